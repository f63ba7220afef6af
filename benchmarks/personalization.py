"""Personalization measured on simulated people: does the learner (nutrition/personalization) make suggested
meals more acceptable week by week, stop suggesting disliked foods, learn portion biases, and ask little?

    python benchmarks/personalization.py                        # 200 people, 6 weeks, seed 0
    python benchmarks/personalization.py --json reports/personalization/simulation.json

Each person has HIDDEN truths the learner never reads: a liking of each cuisine of the real catalogue
(data/recipes), 1-4 disliked foods (words of its ingredient items), a spice tolerance 0-3, for half a cooking
time limit, meal times, for 60 % a consistent portion bias (±15-40 %) of the photo model's grams, and an
engagement 0.3-1 that scales how often they say or log anything. Each week the system plans 7 lunches and 7
dinners: the planner's hard rules from `planner_preferences`, a random pool of 30 allowed recipes (standing in
for the planner's cost and nutrient choice), the top 7 by `rank`. The person keeps a meal when liking + noise
> 0, and as their truths say, with noise: rates what they eat, swaps or says "no X" when a disliked food is in
it, says "too spicy", swaps a planned meal they don't want ("swap tuesday dinner"), logs meals at their (noisy,
sometimes odd) times, corrects the model's grams, answers `next_question`. As in the bot: a planned meal logged is
learned as kept (`planned`), a logged meal's cuisine is what `cuisines.cuisine_of_foods` reads in the dish's name
and items, and on a day with no preference question, "How was it?" about the first planned meal logged and
neither rated nor corrected is answered (as often as a question is) with a rating. Breakfasts are not planned:
chosen as the person likes them, only logged. The learner sees only these signals, through
`nutrition.personalization.signals`.

    PYTHONPATH=. python benchmarks/personalization.py    # from a worktree: its own nutrition/, not the installed one
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from nutrition.allergens import mentions
from nutrition.personalization import answers, signals
from nutrition.personalization.cuisines import cuisine_of_foods
from nutrition.personalization.preferences import UserPreferences
from nutrition.personalization.use import next_question, planner_preferences, portion_factor, rank, stage
from nutrition.planning.recipes import DEFAULT_RECIPES, Recipe, load_recipes

REPO = Path(__file__).resolve().parents[1]
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday
PLANNED_SLOTS = ("lunch", "dinner")
MEALS_PER_SLOT, POOL = 7, 30
# The goals of issue 24.
GOAL_GAIN, GOAL_DISLIKED, GOAL_DISLIKED_FROM_WEEK, GOAL_PORTION_RATIO, GOAL_QUESTIONS = 0.30, 0.02, 4, 0.5, 1.0
# How simulated people behave, chosen once to be plausible and left alone (the learner is what gets tuned).
# Liking lost by a dish with a disliked food / per spice level above the tolerance / over the time limit.
DISLIKE_PENALTY, SPICE_PENALTY, TIME_PENALTY = 1.5, 0.7, 0.5
ACCEPT_NOISE, RATING_NOISE = 0.5, 0.35  # sd of the liking noise when deciding and when rating
P_PLAN_SEEN = 0.8  # a planned meal not eaten that the person swaps ("swap tuesday dinner"): the bot notices it
P_SAY_NO, P_SWAP, P_TOO_SPICY, P_RATE, P_CORRECT = 0.35, 0.5, 0.4, 0.7, 0.4  # each × engagement
P_SPICE_ANSWER_OFF = 0.2  # people misjudge their own spice tolerance
P_FORGET_DISLIKE = 0.3  # asked which foods they avoid, people forget some
# Meal times: sd 20 min, and one meal in 20 is 2-4 h late. Grams: the photo model's error beyond the person's
# bias is lognormal, sd 0.15; the person's own correction is close to the truth (sd 0.05).
P_ODD_TIME, TIME_SD_MIN, MODEL_NOISE_SD, SELF_NOISE_SD = 0.05, 20.0, 0.15, 0.05
# Pantry items nobody names as a disliked food; "canned tuna" is disliked as "tuna".
_PANTRY_WORDS = {"salt", "oil", "sugar", "powder", "flour", "cornstarch", "paprika", "dried", "vinegar", "pepper"}
_SPICES = {"cumin", "cinnamon", "turmeric", "coriander", "cardamom", "nutmeg"}
_QUALIFIERS = {"canned", "frozen", "fresh", "baby"}


@dataclass(frozen=True)
class Dish:
    id: str
    slots: tuple[str, ...]
    cuisine: str
    spice: int
    minutes: int
    foods: tuple[str, ...]  # the ingredient items: what the learner is told the dish contains
    texts: tuple[str, ...]  # name and items: what a dislike is matched against (as the planner does)
    main: str  # the heaviest item: the food whose grams a photo of it is corrected on

    @classmethod
    def of(cls, r: Recipe) -> Dish:
        foods = tuple(i.item for i in r.ingredients)
        main = max(r.ingredients, key=lambda i: i.grams).item
        return cls(r.id, r.slots, r.cuisine, r.spice, r.minutes, foods, (r.name.lower(), *foods), main)


@dataclass
class Person:
    """The hidden truths of one simulated person."""

    affinity: dict[str, float]
    dislikes: tuple[str, ...]
    spice: int
    max_minutes: int | None
    meal_minutes: dict[str, float]  # slot → minute of the day
    bias: float | None  # corrected / predicted grams, consistently; None: the model is unbiased for them
    engagement: float
    skill: str
    budget: str


@dataclass
class Week:
    """One week's tallies for one person."""

    suggested: int = 0
    accepted: int = 0
    disliked: int = 0
    questions: int = 0  # all questions asked, "How was it?" among them
    prompts: int = 0  # "How was it?" about a planned meal just logged
    busiest_day: int = 0  # the most questions asked in one day
    errors: list[float] = field(default_factory=list)  # |shown grams - true| / true, after the learned factor
    raw_errors: list[float] = field(default_factory=list)  # the same without it
    floor_errors: list[float] = field(default_factory=list)  # the same with the true bias: what no learner beats
    time_errors: list[float] = field(default_factory=list)  # minutes between learned and true meal times


@functools.lru_cache(maxsize=262144)
def _names(text: str, word: str) -> bool:
    return mentions(text, word)


def names_any(dish: Dish, words: Sequence[str]) -> list[str]:
    return [w for w in words if any(_names(t, w) for t in dish.texts)]


def dislikeable(dishes: Sequence[Dish]) -> list[str]:
    """Words a person may dislike: ingredient items in at least 3 recipes, less pantry items and qualifiers."""
    counts: dict[str, int] = {}
    for dish in dishes:
        for item in set(dish.foods):
            counts[item] = counts.get(item, 0) + 1
    words = []
    for item, n in sorted(counts.items()):
        parts = item.split()
        if n < 3 or _PANTRY_WORDS & set(parts) or (parts[0] == "ground" and parts[-1] in _SPICES):
            continue
        words.append(" ".join(p for p in parts if p not in _QUALIFIERS))
    return sorted(set(words))


def make_person(rng: random.Random, cuisines: Sequence[str], words: Sequence[str]) -> Person:
    return Person(
        affinity={c: max(-1.0, min(1.0, rng.gauss(0.1, 0.5))) for c in cuisines},
        dislikes=tuple(rng.sample(words, rng.randint(1, 4))),
        spice=rng.choices(range(4), weights=(0.2, 0.3, 0.3, 0.2))[0],
        max_minutes=rng.choice((20, 30, 45, 60)) if rng.random() < 0.5 else None,
        meal_minutes={"breakfast": rng.gauss(450, 45), "lunch": rng.gauss(750, 40), "dinner": rng.gauss(1140, 60)},
        bias=math.exp(rng.choice((-1, 1)) * rng.uniform(math.log(1.15), math.log(1.40)))
        if rng.random() < 0.6
        else None,
        engagement=rng.uniform(0.3, 1.0),
        skill=rng.choice(("basic", "intermediate", "advanced")),
        budget=rng.choice(("tight", "normal", "generous")),
    )


def liking(person: Person, dish: Dish, *, swapped: bool = False) -> float:
    """The person's true liking of a dish (a swapped-out disliked food no longer counts)."""
    value = person.affinity.get(dish.cuisine, 0.0) - SPICE_PENALTY * max(0, dish.spice - person.spice)
    if names_any(dish, person.dislikes) and not swapped:
        value -= DISLIKE_PENALTY
    if person.max_minutes is not None and dish.minutes > person.max_minutes:
        value -= TIME_PENALTY
    return value


def allowed(dish: Dish, rules) -> bool:
    """The planner's hard rules on a dish (allergies are not simulated: they are a separate, exact filter)."""
    if rules.max_spice is not None and dish.spice > rules.max_spice:
        return False
    if rules.max_minutes is not None and dish.minutes > rules.max_minutes:
        return False
    return not names_any(dish, rules.dislikes)


def ranked(dishes: Sequence[Dish], prefs: UserPreferences) -> list[Dish]:
    return rank(dishes, prefs, cuisine_of=lambda d: d.cuisine, foods_of=lambda d: d.foods, spice_of=lambda d: d.spice)


def plan_week(rng: random.Random, prefs: UserPreferences, dishes: Sequence[Dish]) -> list[tuple[str, Dish]]:
    rules = planner_preferences(prefs, {})
    chosen: list[tuple[str, Dish]] = []
    for slot in PLANNED_SLOTS:
        taken = {d.id for _, d in chosen}
        fits = [d for d in dishes if slot in d.slots and d.id not in taken]
        ok = [d for d in fits if allowed(d, rules)]
        pool = rng.sample(ok, min(POOL, len(ok)))
        picks = ranked(pool, prefs)
        if len(picks) < MEALS_PER_SLOT:  # the rules leave too few: the planner would relax one; take the least bad
            picks += ranked([d for d in fits if d not in picks], prefs)
        chosen += [(slot, d) for d in picks[:MEALS_PER_SLOT]]
    return chosen


def clock(minute: float) -> dt.time:
    m = round(minute) % 1440
    return dt.time(m // 60, m % 60)


@functools.lru_cache(maxsize=4096)
def _cuisine_of(texts: tuple[str, ...]) -> str | None:
    return cuisine_of_foods(texts)


def log_meal(rng, person: Person, prefs, week: Week, slot: str, dish: Dish, at) -> tuple[UserPreferences, bool]:
    """The person logs a meal (a photo): its time, the cuisine its foods are evidence of (as the bot reads it, from
    the dish's name and items), and maybe a correction of the grams. Returns (prefs, corrected)."""
    minute = person.meal_minutes[slot] + rng.gauss(0, TIME_SD_MIN)
    if rng.random() < P_ODD_TIME:
        minute += rng.uniform(120, 240)
    cuisine = _cuisine_of(dish.texts)
    prefs = signals.meal_logged(prefs, slot=slot, local_time=clock(minute), cuisine=cuisine, at=at)
    true_g = rng.uniform(80, 300)
    predicted = true_g / ((person.bias or 1.0) * math.exp(rng.gauss(0, MODEL_NOISE_SD)))
    factor = portion_factor(prefs, dish.main) or 1.0
    if person.bias is not None:
        week.errors.append(abs(predicted * factor - true_g) / true_g)
        week.raw_errors.append(abs(predicted - true_g) / true_g)
        week.floor_errors.append(abs(predicted * person.bias - true_g) / true_g)
    if rng.random() < P_CORRECT * person.engagement:
        corrected = true_g * math.exp(rng.gauss(0, SELF_NOISE_SD))
        return signals.portion_corrected(
            prefs, food=dish.main, predicted_g=predicted, corrected_g=corrected, at=at
        ), True
    return prefs, False


def rating_of(rng, person: Person, dish: Dish, swapped: bool) -> int:
    score = liking(person, dish, swapped=swapped) + rng.gauss(0, RATING_NOISE)
    return max(1, min(5, round(3 + 2 * score)))


def offer(rng, person: Person, prefs, week: Week, slot: str, dish: Dish, at):
    """A planned meal's day: kept or swapped, and what the person says about it. Returns (prefs, messages,
    corrected, ask): `ask` is (the dish, whether a food of it was swapped) when "How was it?" may be asked about it
    (the planned meal was logged, not rated, and its grams not corrected: a correction drops the question)."""
    e, messages, corrected = person.engagement, 0, False
    bad_foods = names_any(dish, person.dislikes)
    kept = liking(person, dish) + rng.gauss(0, ACCEPT_NOISE) > 0
    week.suggested += 1
    week.accepted += kept
    week.disliked += bool(bad_foods)
    if not kept and rng.random() < P_PLAN_SEEN:  # "swap tuesday dinner"
        prefs = signals.planned(prefs, cuisine=dish.cuisine, foods=dish.foods, spice=dish.spice, accepted=False, at=at)
        messages += 1
    swapped = False
    if bad_foods and rng.random() < (P_SWAP if kept else P_SAY_NO) * e:
        food = rng.choice(bad_foods)
        if kept:
            prefs, swapped = signals.substituted(prefs, removed=food, added=None, at=at), True
        else:
            prefs = signals.disliked(prefs, food, at)
        messages += 1
    if dish.spice > person.spice and rng.random() < P_TOO_SPICY * e:
        prefs, messages = signals.too_spicy(prefs, dish.spice, at), messages + 1
    if not kept:
        return prefs, messages, corrected, None
    rated = rng.random() < P_RATE * e
    if rated:
        rating = rating_of(rng, person, dish, swapped)
        prefs = signals.rated(prefs, cuisine=dish.cuisine, foods=dish.foods, spice=dish.spice, rating=rating, at=at)
        messages += 1
    logged = rng.random() < e
    if logged:  # the bot matches the log to the planned meal: kept
        prefs, corrected = log_meal(rng, person, prefs, week, slot, dish, at)
        prefs = signals.planned(prefs, cuisine=dish.cuisine, foods=dish.foods, spice=dish.spice, accepted=True, at=at)
        messages += 1 + corrected
    return prefs, messages, corrected, (dish, swapped) if logged and not (rated or corrected) else None


def answer(rng, person: Person, prefs, question: str, at) -> UserPreferences:
    """A truthful-ish answer: cuisines as the person ranks them, spice one level off one time in five, "no limit"
    as the longest recipe."""
    if question == "dislikes":  # names each disliked food, forgetting one now and then
        named = [w for w in person.dislikes if rng.random() >= P_FORGET_DISLIKE]
        return answers.said_dislikes(prefs, named, at)
    if question == "cuisines":
        ordered = sorted(person.affinity, key=lambda c: -person.affinity[c])
        liked = [c for c in ordered[:2] if person.affinity[c] > 0.3]
        hated = [c for c in ordered[-1:] if person.affinity[c] < -0.3]
        return answers.said_cuisines(prefs, liked=liked, disliked=hated, at=at)
    if question == "spice":
        off = rng.choice((-1, 1)) if rng.random() < P_SPICE_ANSWER_OFF else 0
        return answers.said_spice(prefs, max(0, min(3, person.spice + off)), at)
    if question == "cooking_time":
        return signals.said_cooking_minutes(prefs, person.max_minutes or 240, at)
    if question == "cooking_skill":
        return answers.said_cooking_skill(prefs, person.skill, at)
    return answers.said_budget(prefs, person.budget, at)


def simulate_person(rng: random.Random, person: Person, dishes: Sequence[Dish], weeks: int) -> list[Week]:
    prefs, history, out = UserPreferences.empty(), [], []
    breakfasts = [d for d in dishes if "breakfast" in d.slots]
    breakfast_weights = [math.exp(liking(person, d)) for d in breakfasts]  # breakfast is eaten as the person likes
    for w in range(weeks):
        week, plan = Week(), plan_week(rng, prefs, dishes)
        for day in range(7):
            at = START + dt.timedelta(days=7 * w + day, hours=12)
            messages, correcting, eaten = 0, False, []
            if rng.random() < person.engagement:  # only logged, not planned
                breakfast = rng.choices(breakfasts, weights=breakfast_weights)[0]
                prefs, correcting = log_meal(rng, person, prefs, week, "breakfast", breakfast, at)
                messages += 1 + correcting
            for slot, dish in (plan[day], plan[MEALS_PER_SLOT + day]):
                prefs, said, corrected, ask = offer(rng, person, prefs, week, slot, dish, at)
                messages, correcting = messages + said, correcting or corrected
                eaten += [ask] if ask else []
            days_active = 7 * w + day + 1
            current = stage(prefs, days_active=days_active, messages_last_7_days=sum(history[-6:]) + messages)
            question = next_question(prefs, stage=current, asked_today=0, correcting=correcting)
            if question is not None:
                prefs, week.questions = answers.question_asked(prefs, question, at), week.questions + 1
                week.busiest_day = max(week.busiest_day, 1)  # next_question is asked once a day, at most
                if rng.random() < 0.3 + 0.6 * person.engagement:
                    prefs, messages = answer(rng, person, prefs, question, at), messages + 1
            elif eaten:  # the day's one question left: "How was it?" about the first planned meal logged
                week.questions, week.prompts = week.questions + 1, week.prompts + 1
                week.busiest_day = max(week.busiest_day, 1)
                if rng.random() < 0.3 + 0.6 * person.engagement:
                    dish, rating = eaten[0][0], rating_of(rng, person, *eaten[0])
                    prefs = signals.rated(
                        prefs, cuisine=dish.cuisine, foods=dish.foods, spice=dish.spice, rating=rating, at=at
                    )
                    messages += 1
            history.append(messages)
        for slot, learned in prefs.meal_times.items():
            if slot in person.meal_minutes:
                hours, minutes = map(int, str(learned.value).split(":"))
                gap = abs((hours * 60 + minutes - person.meal_minutes[slot] + 720) % 1440 - 720)
                week.time_errors.append(gap)
        out.append(week)
    return out


def simulate(seed: int = 0, people: int = 200, weeks: int = 6, recipes: Path = REPO / DEFAULT_RECIPES) -> dict:
    """Run the simulation; the numbers of each week over all people, and the per-person acceptance."""
    dishes = [Dish.of(r) for r in load_recipes(recipes)]
    cuisines = sorted({d.cuisine for d in dishes})
    words = dislikeable(dishes)
    rng = random.Random(seed)
    crowd = [make_person(rng, cuisines, words) for _ in range(people)]
    results = [simulate_person(random.Random(rng.getrandbits(64)), person, dishes, weeks) for person in crowd]
    rows = []
    for w in range(weeks):
        of_week = [r[w] for r in results]
        errors = [e for x in of_week for e in x.errors]
        raw = [e for x in of_week for e in x.raw_errors]
        floor = [e for x in of_week for e in x.floor_errors]
        times = [t for x in of_week for t in x.time_errors]
        rows.append(
            {
                "week": w + 1,
                "suggested": sum(x.suggested for x in of_week),
                "acceptance": sum(x.accepted for x in of_week) / max(1, sum(x.suggested for x in of_week)),
                "disliked_share": sum(x.disliked for x in of_week) / max(1, sum(x.suggested for x in of_week)),
                "portion_error": statistics.fmean(errors) if errors else None,
                "portion_error_unadjusted": statistics.fmean(raw) if raw else None,
                "portion_error_true_bias": statistics.fmean(floor) if floor else None,
                "meal_time_error_min": statistics.fmean(times) if times else None,
                "questions_per_day": statistics.fmean(x.questions / 7 for x in of_week),
                "how_was_it_per_day": statistics.fmean(x.prompts / 7 for x in of_week),
                "max_questions_per_day": max(x.busiest_day for x in of_week),
            }
        )
    acceptance = [[x.accepted / max(1, x.suggested) for x in r] for r in results]
    return {
        "seed": seed,
        "people": people,
        "weeks": weeks,
        "recipes": len(dishes),
        "cuisines": cuisines,
        "dislikeable_foods": len(words),
        "consistent_bias_people": sum(p.bias is not None for p in crowd),
        "rows": rows,
        "per_person_acceptance": acceptance,
    }


def bootstrap(values: Sequence[float], seed: int, draws: int = 2000) -> tuple[float, float]:
    """A 95 % percentile interval of the mean, resampling people."""
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(draws))
    return means[int(0.025 * draws)], means[int(0.975 * draws) - 1]


def goals(result: dict) -> dict:
    rows, seed = result["rows"], result["seed"]
    first, last = rows[0], rows[-1]
    per_person = result["per_person_acceptance"]
    gains = [p[-1] - p[0] for p in per_person]
    later = [r["disliked_share"] for r in rows if r["week"] >= GOAL_DISLIKED_FROM_WEEK]
    portion_ratio = (
        last["portion_error"] / first["portion_error"] if first["portion_error"] and last["portion_error"] else None
    )
    unadjusted = statistics.fmean(r["portion_error_unadjusted"] for r in rows if r["portion_error_unadjusted"])
    out = {
        "portion_error_ratio_vs_model_alone": last["portion_error"] / unadjusted if last["portion_error"] else None,
        "acceptance_week1_ci95": bootstrap([p[0] for p in per_person], seed),
        "acceptance_last_ci95": bootstrap([p[-1] for p in per_person], seed + 1),
        "acceptance_gain": last["acceptance"] - first["acceptance"],
        "acceptance_gain_ci95": bootstrap(gains, seed + 2),
        "disliked_share_from_week4_max": max(later) if later else None,
        "portion_error_ratio": portion_ratio,
        "questions_per_day_max": max(r["max_questions_per_day"] for r in rows),
        "questions_per_day_mean": statistics.fmean(r["questions_per_day"] for r in rows),
    }
    out["met"] = {
        "acceptance +30 points week 1 → last": out["acceptance_gain"] >= GOAL_GAIN,
        "disliked-food suggestions < 2 % from week 4": bool(later) and max(later) < GOAL_DISLIKED,
        "grams error halved, last week vs week 1": portion_ratio is not None and portion_ratio <= GOAL_PORTION_RATIO,
        "≤ 1 question a day": out["questions_per_day_max"] <= GOAL_QUESTIONS,
    }
    out["measured"] = {
        "acceptance +30 points week 1 → last": f"{100 * out['acceptance_gain']:+.1f} points",
        "disliked-food suggestions < 2 % from week 4": _pct(out["disliked_share_from_week4_max"]) + " at most",
        "grams error halved, last week vs week 1": f"× {portion_ratio:.2f}" if portion_ratio else "-",
        "≤ 1 question a day": f"{out['questions_per_day_max']} at most, {out['questions_per_day_mean']:.2f} on average",
    }
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def render(result: dict, summary: dict) -> str:
    lines = [
        "| week | suggested | accepted | with a disliked food | grams error: learned factor | model alone "
        '| true bias | meal-time error | questions / person / day | of which "How was it?" |',
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        minutes = "-" if r["meal_time_error_min"] is None else f"{r['meal_time_error_min']:.0f} min"
        lines.append(
            f"| {r['week']} | {r['suggested']} | {_pct(r['acceptance'])} | {_pct(r['disliked_share'])} | "
            f"{_pct(r['portion_error'])} | {_pct(r['portion_error_unadjusted'])} | "
            f"{_pct(r['portion_error_true_bias'])} | {minutes} | "
            f"{r['questions_per_day']:.2f} | {r['how_was_it_per_day']:.2f} |"
        )
    (lo1, hi1), (lo6, hi6) = summary["acceptance_week1_ci95"], summary["acceptance_last_ci95"]
    glo, ghi = summary["acceptance_gain_ci95"]
    weeks = result["weeks"]
    lines += [
        "",
        f"acceptance week 1 {_pct(result['rows'][0]['acceptance'])} (95 % CI {_pct(lo1)}-{_pct(hi1)}), "
        f"week {weeks} {_pct(result['rows'][-1]['acceptance'])} (95 % CI {_pct(lo6)}-{_pct(hi6)}); "
        f"gain {100 * summary['acceptance_gain']:+.1f} points (95 % CI {100 * glo:+.1f} to {100 * ghi:+.1f}); "
        "intervals: bootstrap over people",
        "grams error: mean |shown - true| / true of the photos of people with a consistent bias, before their "
        "correction; 'true bias': the factor known exactly (the model's own noise remains); last week vs the "
        f"model alone × {summary['portion_error_ratio_vs_model_alone']:.2f}",
        "",
    ]
    lines += [
        f"- goal {name}: {'met' if ok else 'MISSED'} ({summary['measured'][name]})"
        for name, ok in summary["met"].items()
    ]
    return "\n".join(lines)


def main(
    seed: Annotated[int, typer.Option(help="Seed of the people and of everything they do.")] = 0,
    people: Annotated[int, typer.Option(help="Simulated people.", min=1)] = 200,
    weeks: Annotated[int, typer.Option(help="Simulated weeks.", min=1)] = 6,
    recipes: Annotated[Path, typer.Option(help="The recipe folder.")] = REPO / DEFAULT_RECIPES,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Where to write the numbers (none: not written).")
    ] = None,
) -> None:
    """Simulate, print the week-by-week table and whether each goal is met; exit 1 when one is missed."""
    result = simulate(seed, people, weeks, recipes)
    summary = goals(result)
    header = (
        f"{people} simulated people × {weeks} weeks, seed {seed}: {result['recipes']} recipes, "
        f"{len(result['cuisines'])} cuisines, {result['dislikeable_foods']} dislikeable foods, "
        f"{result['consistent_bias_people']} people with a consistent portion bias"
    )
    typer.echo(header + "\n\n" + render(result, summary))
    if json_out is not None:
        report = {"date": dt.date.today().isoformat(), "header": header, **summary, **result}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    raise typer.Exit(0 if all(summary["met"].values()) else 1)


if __name__ == "__main__":
    typer.run(main)

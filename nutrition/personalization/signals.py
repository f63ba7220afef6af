"""The learning rules: each signal a person gives (a rating, a swap, "no mushrooms", "too spicy", a logged meal,
a corrected weight, a planned meal kept or swapped, an answer) turns the old UserPreferences into a new one.

Pure functions; `at` is when the signal happened (UTC). Evidence is kept in the confidences themselves: a
field seen n times (weighted) has confidence n / (n + k), so n is recovered from the confidence and nothing
else needs storing. A dislike's confidence is the probability that the food is disliked, moved by Bayes' rule:
weak signals (a swapped meal, a low rating) move it a little, strong ones ("swap quinoa for rice") a lot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence

from nutrition.personalization.preferences import (
    PORTION_FACTOR_RANGE,
    Learned,
    PortionBias,
    UserPreferences,
    iso_utc,
)
from nutrition.planning.recipes import MAX_SPICE, SLOTS

CUISINE_K = 2.0  # a cuisine rated twice is half sure
CUISINE_ALPHA_MIN = 0.2  # after ~5 ratings the affinity is a moving average, so tastes may change
LOGGED_AFFINITY = (0.5, 0.25)  # (target, weight): eating a cuisine often is a mild liking
# ... except at breakfast: the same few dishes (eggs, toast, pancakes) whatever cuisines one likes, so eating them
# says little about the lunches and dinners that are planned; counting them cost 1-2 points of week-6 acceptance in
# the simulation's validation seeds 1 and 2 (benchmarks/personalization.py).
NO_CUISINE_SLOTS = ("breakfast",)
PLANNED_AFFINITY = {True: (0.3, 0.5), False: (-0.5, 0.5)}  # a planned meal kept / swapped away
# A dislike's confidence is the probability that the person dislikes the food, updated by Bayes' rule on odds:
# each signal multiplies them by how much likelier it is if the food is disliked than if it is not.
DISLIKE_PRIOR = 0.05  # before any evidence: a person dislikes a handful of the ~100 foods of the catalogue
RATING_ODDS = {1: 3.0, 2: 1.7, 3: 1.0, 4: 0.6, 5: 0.35}  # one 1-star dish: 5 % → 14 %, far from a hard dislike
DISLIKED_SWAP_RATE = 0.9  # how often a planned dish with a food the person dislikes is swapped away
SWAP_RATE_RANGE = (0.1, 0.85)  # the person's usual swap rate for a dish, bounded so one signal stays bounded
PLANS_CAP = 0.55  # swaps of planned meals alone never make a hard dislike: they have many reasons
SUBSTITUTION_DISLIKE = 0.65  # "swap quinoa for rice": at least this sure, enough not to plan quinoa again
SUBSTITUTION_ODDS, SUBSTITUTION_CLEAR_ODDS = 35.0, 0.2  # the food swapped out / the food swapped in
SAID_DISLIKE = 0.95
DROP_BELOW = 0.02  # a food this cleared is forgotten (back to the prior), so the stored preferences stay small
SPICE_SAID = 0.8  # "too spicy" about a dish of known spice
SPICE_GUESS = (1, 0.4)  # "too spicy" with neither the dish's spice nor a tolerance known: mild, unsure
SAID_CONFIDENCE = 0.9  # "nothing over 30 minutes", an answer to a question
MEAL_TIME_K = 3.0
MEAL_TIME_ALPHA_MIN = 0.2
MEAL_TIME_STEP_MIN = 60.0  # a late dinner 3 h off moves the learned time as one 1 h late would (Huber)
MAX_EVIDENCE_CONFIDENCE = 0.99
# Stronger kinds of evidence name the field's source once they have contributed.
_SOURCE_RANK = {"logs": 0, "plans": 1, "corrections": 2, "ratings": 3, "substitutions": 3, "said": 4}
# Where a meal logged without a slot most likely belongs (local time, start minute of each slot).
_SLOT_STARTS = ((4 * 60, "breakfast"), (11 * 60, "lunch"), (15 * 60, "snack"), (17 * 60, "dinner"), (23 * 60, "snack"))


def food_word(food: str) -> str:
    """The stored spelling of a food: lowercase, single spaces ("Black  Beans" → "black beans")."""
    word = " ".join(food.lower().split())
    if not word:
        raise ValueError(f"a food should be a non-empty word, got {food!r}")
    return word


def _evidence(confidence: float, k: float) -> float:
    c = min(confidence, MAX_EVIDENCE_CONFIDENCE)
    return k * c / (1.0 - c)


def _source(old: Learned | None, new: str) -> str:
    if old is None or _SOURCE_RANK[new] >= _SOURCE_RANK[old.source]:
        return new
    return old.source


def bump(prefs: UserPreferences, *keys: str) -> dict[str, int]:
    """`prefs.counts` with each of `keys` one higher."""
    counts = dict(prefs.counts)
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def nudge_cuisine(
    cuisines: Mapping[str, Learned], cuisine: str, target: float, weight: float, source: str, at: dt.datetime
) -> dict[str, Learned]:
    """The cuisines with one moved towards `target` by `weight` evidence: a running mean, then a moving average."""
    out = dict(cuisines)
    old = out.get(cuisine)
    affinity, n = (float(old.value), _evidence(old.confidence, CUISINE_K)) if old else (0.0, 0.0)
    n_new = n + weight
    alpha = max(weight / n_new, CUISINE_ALPHA_MIN * min(1.0, weight))
    affinity = max(-1.0, min(1.0, affinity + alpha * (target - affinity)))
    out[cuisine] = Learned(round(affinity, 4), round(n_new / (n_new + CUISINE_K), 4), _source(old, source), iso_utc(at))
    return out


def _update_dislikes(
    disliked: Mapping[str, Learned],
    foods: Sequence[str],
    odds_ratio: float,
    source: str,
    at: dt.datetime,
    floor: float = 0.0,
) -> dict[str, Learned]:
    """Each food's dislike probability with its odds times `odds_ratio` (a food not yet seen starts at the prior),
    then at least `floor`. Evidence against (ratio < 1) touches only foods already suspected, never a dislike the
    person said (that goes by reset), and a swapped-out food only by a later swap back in: a kept meal or a good
    rating may be of the dish with the swap. Evidence from planned meals alone stays below PLANS_CAP."""
    out = dict(disliked)
    for food in {food_word(f) for f in foods}:
        old = out.get(food)
        explicit = old is not None and (
            old.source == "said" or (old.source == "substitutions" and source != "substitutions")
        )
        if odds_ratio < 1 and (old is None or explicit):
            continue
        p = old.confidence if old else DISLIKE_PRIOR
        odds = p / (1 - p) * odds_ratio
        p_new, kind = max(floor, min(MAX_EVIDENCE_CONFIDENCE, odds / (1 + odds))), _source(old, source)
        if kind == "plans" and p_new > p:
            p_new = max(p, min(p_new, PLANS_CAP))
        if p_new < DROP_BELOW:
            del out[food]
        else:
            out[food] = Learned(True, round(p_new, 4), kind, iso_utc(at))
    return out


def _explained(prefs: UserPreferences, cuisine: str | None) -> float:
    """How much a disliked cuisine already explains a bad verdict on a dish (0..1): its foods are then less to blame."""
    old = prefs.cuisines.get(cuisine) if cuisine else None
    return max(0.0, -float(old.value) * old.confidence) if old else 0.0


def _check_rating(rating: int) -> None:
    if not (isinstance(rating, int) and 1 <= rating <= 5):
        raise ValueError(f"a rating should be a whole number 1-5, got {rating!r}")


def check_spice(spice: int | None) -> None:
    if spice is not None and not (isinstance(spice, int) and 0 <= spice <= MAX_SPICE):
        raise ValueError(f"spice should be 0-{MAX_SPICE}, got {spice!r}")


def rated(
    prefs: UserPreferences,
    *,
    cuisine: str | None,
    foods: Sequence[str],
    spice: int | None,
    rating: int,
    at: dt.datetime,
) -> UserPreferences:
    """A 1-5 rating of a dish: the cuisine's affinity moves towards (rating - 3) / 2; a low rating raises each
    food's dislike evidence a little (less when the cuisine already explains it), a high one clears some; a high
    rating of a dish spicier than the learned tolerance raises the tolerance (less sure: they disagree)."""
    _check_rating(rating)
    check_spice(spice)
    cuisines = prefs.cuisines
    explained = _explained(prefs, cuisine)
    if cuisine:
        cuisines = nudge_cuisine(cuisines, cuisine, (rating - 3) / 2, 1.0, "ratings", at)
    ratio = RATING_ODDS[rating]
    if ratio > 1:  # a disliked cuisine already explains part of a bad rating
        ratio **= 1 - 0.7 * explained
    disliked = _update_dislikes(prefs.disliked, foods, ratio, "ratings", at) if ratio != 1 else prefs.disliked
    tolerance = prefs.spice_tolerance
    if rating >= 4 and spice is not None and tolerance is not None and spice > int(tolerance.value):
        tolerance = Learned(spice, round(tolerance.confidence * 0.7, 4), _source(tolerance, "ratings"), iso_utc(at))
    counts = bump(prefs, "ratings")
    return dataclasses.replace(prefs, cuisines=cuisines, disliked=disliked, spice_tolerance=tolerance, counts=counts)


def planned(
    prefs: UserPreferences,
    *,
    cuisine: str | None,
    foods: Sequence[str],
    spice: int | None,
    accepted: bool,
    at: dt.datetime,
) -> UserPreferences:
    """A planned or suggested meal kept (accepted) or swapped away: half a rating's worth for the cuisine, a
    faint hint for the foods. Spice is left to "too spicy": a swap has many reasons."""
    check_spice(spice)
    cuisines = prefs.cuisines
    # How often this person swaps a dish like this one away when no food of it is disliked: their usual rate,
    # lower for a cuisine they like. A swap of a usually-kept dish says more about its foods.
    kept, swapped = prefs.counts.get("plans_kept", 0), prefs.counts.get("plans_swapped", 0)
    learned = prefs.cuisines.get(cuisine) if cuisine else None
    liking = float(learned.value) * learned.confidence if learned else 0.0
    low, high = SWAP_RATE_RANGE
    usual = min(high, max(low, (swapped + 1) / (kept + swapped + 2) - 0.3 * liking))
    if accepted:
        ratio = (1 - DISLIKED_SWAP_RATE) / (1 - usual)
    else:
        ratio = DISLIKED_SWAP_RATE / usual
    if cuisine:
        target, weight = PLANNED_AFFINITY[accepted]
        cuisines = nudge_cuisine(cuisines, cuisine, target, weight, "plans", at)
    disliked = _update_dislikes(prefs.disliked, foods, ratio, "plans", at)
    counts = bump(prefs, "plans_kept" if accepted else "plans_swapped")
    return dataclasses.replace(prefs, cuisines=cuisines, disliked=disliked, counts=counts)


def substituted(prefs: UserPreferences, *, removed: str, added: str | None, at: dt.datetime) -> UserPreferences:
    """A swap, "quinoa for rice": quinoa is strong dislike evidence, rice is cleared of any (allergies are a
    separate rule this never touches: a swap cannot make an allergen allowed)."""
    disliked = _update_dislikes(
        prefs.disliked, [removed], SUBSTITUTION_ODDS, "substitutions", at, floor=SUBSTITUTION_DISLIKE
    )
    if added:
        disliked = _update_dislikes(disliked, [added], SUBSTITUTION_CLEAR_ODDS, "substitutions", at)
    return dataclasses.replace(prefs, disliked=disliked, counts=bump(prefs, "substitutions"))


def disliked(prefs: UserPreferences, food: str, at: dt.datetime) -> UserPreferences:
    """A dislike the person said ("no mushrooms"), kept until they reset it."""
    word = food_word(food)
    entries = dict(prefs.disliked)
    old = entries.get(word)
    entries[word] = Learned(True, max(SAID_DISLIKE, old.confidence if old else 0.0), "said", iso_utc(at))
    return dataclasses.replace(prefs, disliked=entries, counts=bump(prefs, "dislikes_said"))


def too_spicy(prefs: UserPreferences, spice: int | None, at: dt.datetime) -> UserPreferences:
    """The person found a dish of `spice` (None: unknown) too spicy: the tolerance drops below it, or one step."""
    check_spice(spice)
    old = prefs.spice_tolerance
    if spice is not None:
        value = max(0, spice - 1) if old is None else max(0, min(int(old.value), spice - 1))
        confidence = max(SPICE_SAID, old.confidence if old else 0.0)
    elif old is not None:
        value, confidence = max(0, int(old.value) - 1), max(SPICE_SAID, old.confidence)
    else:
        value, confidence = SPICE_GUESS
    tolerance = Learned(value, confidence, "said", iso_utc(at))
    return dataclasses.replace(prefs, spice_tolerance=tolerance, counts=bump(prefs, "too_spicy"))


def said_cooking_minutes(prefs: UserPreferences, minutes: int, at: dt.datetime) -> UserPreferences:
    """ "nothing over 30 minutes": the most minutes a recipe may take."""
    if not (isinstance(minutes, int) and minutes > 0):
        raise ValueError(f"cooking minutes should be a whole number above 0, got {minutes!r}")
    return dataclasses.replace(prefs, cooking_minutes=Learned(minutes, SAID_CONFIDENCE, "said", iso_utc(at)))


def _minutes(t: dt.time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


def slot_at(local_time: dt.time) -> str:
    """The slot a meal eaten at `local_time` most likely is, when the person did not say."""
    minute = _minutes(local_time)
    slot = "snack"  # before 04:00: a late snack
    for start, name in _SLOT_STARTS:
        if minute >= start:
            slot = name
    return slot


def meal_logged(
    prefs: UserPreferences, *, slot: str | None, local_time: dt.time, cuisine: str | None, at: dt.datetime
) -> UserPreferences:
    """A meal logged at `local_time`: the slot's learned time moves towards it (a running mean on the clock,
    each step capped so that one odd late meal barely moves it); the cuisine gains a little liking, unless the
    meal is a breakfast (NO_CUISINE_SLOTS)."""
    if slot is not None and slot not in SLOTS:
        raise ValueError(f"unknown slot {slot!r} (expected one of {', '.join(SLOTS)})")
    slot = slot or slot_at(local_time)
    observed = _minutes(local_time)
    times = dict(prefs.meal_times)
    old = times.get(slot)
    if old is None:
        learned, n_new = observed, 1.0
    else:
        hours, minutes = map(int, str(old.value).split(":"))
        current, n = hours * 60 + minutes, _evidence(old.confidence, MEAL_TIME_K)
        n_new = n + 1
        delta = (observed - current + 720) % 1440 - 720  # the short way round the clock: 23:30 → 00:30 is +60
        step = max(-MEAL_TIME_STEP_MIN, min(MEAL_TIME_STEP_MIN, delta))
        learned = (current + max(1 / n_new, MEAL_TIME_ALPHA_MIN) * step) % 1440
    rounded = round(learned) % 1440
    times[slot] = Learned(
        f"{rounded // 60:02d}:{rounded % 60:02d}", round(n_new / (n_new + MEAL_TIME_K), 4), "logs", iso_utc(at)
    )
    cuisines = prefs.cuisines
    if cuisine and slot not in NO_CUISINE_SLOTS:
        cuisines = nudge_cuisine(cuisines, cuisine, *LOGGED_AFFINITY, "logs", at)
    return dataclasses.replace(prefs, meal_times=times, cuisines=cuisines, counts=bump(prefs, "meals_logged"))


def portion_corrected(
    prefs: UserPreferences, *, food: str, predicted_g: float, corrected_g: float, at: dt.datetime
) -> UserPreferences:
    """The person corrected the model's grams for `food`: one more log ratio in that food's bias (each capped
    to the factor's range, so a 10x typo counts as a 2x correction)."""
    if not (predicted_g > 0 and corrected_g > 0):
        raise ValueError(f"grams should be above 0, got predicted {predicted_g!r} and corrected {corrected_g!r}")
    word = food_word(food)
    low, high = PORTION_FACTOR_RANGE
    ratio = max(math.log(low), min(math.log(high), math.log(corrected_g / predicted_g)))
    portions = dict(prefs.portions)
    old = portions.get(word, PortionBias(word, 0.0, 0))
    portions[word] = PortionBias(word, old.log_sum + ratio, old.n + 1)
    return dataclasses.replace(prefs, portions=portions, counts=bump(prefs, "portion_corrections"))

"""Weekly meal plans: seconds to plan 20 varied profiles, and the independent checker's verdict on each plan.
Goal: p95 ≤ 2 s on this 2-core machine, and 100 % of plans keep every hard rule.

    python benchmarks/plans.py                                  # data/recipes, data/nutrition (or the SR28 subset)
    python benchmarks/plans.py --repeats 5 --json /tmp/plans.json

Profiles vary the target (1400–3200 kcal), allergies (top-9 and free text: "kiwi", "mushrooms"), the budget
(tight, normal, none), the slots (dinners only), the days (3), dislikes, spice and cooking time. Each profile
is planned `repeats` times (the first is not a warm-up: the planner keeps no cache); its time is the median.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from nutrition import NutritionTable
from nutrition.allergens import parse_allergies
from nutrition.planning.checker import check_plan
from nutrition.planning.planner import Infeasible, PlanRequest, Preferences, plan_week
from nutrition.planning.recipes import DEFAULT_RECIPES, PRICES_FILE, load_prices, load_recipes, price_recipes
from nutrition.targets import MACRO_SPLIT, DailyTargets, Goal, macro_grams

GOAL_P95_S = 2.0
REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO / "tests" / "usda_subset.py"


@dataclass(frozen=True)
class Profile:
    name: str
    kcal: float
    allergies: str = "none"
    goal: Goal | None = None
    budget: float | None = None
    days: int = 7
    slots: tuple[str, ...] = ("breakfast", "lunch", "dinner", "snack")
    preferences: Preferences = field(default_factory=Preferences)
    leftovers: bool = False

    def request(self) -> PlanRequest:
        grams = macro_grams(self.kcal, MACRO_SPLIT.get(self.goal, MACRO_SPLIT[None]))
        targets = DailyTargets(
            self.kcal, round(grams["protein"]), round(grams["fat"]), round(grams["carbs"]), None, False, self.name
        )
        return PlanRequest(
            targets=targets,
            allergies=parse_allergies(self.allergies),
            days=self.days,
            slots=self.slots,
            budget_usd_per_week=self.budget,
            preferences=self.preferences,
            leftovers=self.leftovers,
        )


PROFILES = (
    Profile("default", 2000),
    Profile("lose weight, no nuts", 1400, "nuts", Goal.LOSE_WEIGHT),
    Profile("athlete", 3200),
    Profile("tight budget", 1800, budget=35),
    Profile("normal budget, no dairy", 2200, "dairy", budget=60),
    Profile("no milk, no eggs", 2000, "milk and eggs"),
    Profile("gluten free", 1900, "gluten"),
    Profile("no fish or shellfish", 2400, "fish, shellfish"),
    Profile("kiwi and mushrooms (free text)", 2000, "kiwi, mushrooms"),
    Profile("no soy or sesame, lose weight", 1700, "soy and sesame", Goal.LOSE_WEIGHT),
    Profile("dinners only", 2000, slots=("dinner",)),
    Profile("dinners only, no milk, tight", 2600, "milk", budget=30, slots=("dinner",)),
    Profile("3 days", 2100, days=3),
    Profile("3 days, tight budget", 1600, budget=30, days=3),
    Profile("dislikes fish and cilantro", 2000, preferences=Preferences(dislikes=("fish", "cilantro"))),
    Profile("20 minutes at most", 1800, preferences=Preferences(max_minutes=20)),
    Profile(
        "mild, likes italian and mexican", 2300, preferences=Preferences(cuisines=("italian", "mexican"), max_spice=1)
    ),
    Profile("leftovers, normal budget", 2500, budget=50, leftovers=True),
    Profile("peanut and mango, 2800", 2800, "peanuts, mango"),
    Profile("no meat words, no wheat", 2000, "wheat", preferences=Preferences(dislikes=("chicken", "beef", "pork"))),
)


def nutrition_table(directory: Path) -> tuple[NutritionTable, str]:
    """The nutrition_table stage's output, or the small real SR28 subset the tests use when it is absent."""
    if directory.is_dir():
        return NutritionTable.load(directory), str(directory)
    sys.path.insert(0, str(SUBSET.parent))
    from usda_subset import subset_table

    return subset_table(), f"{SUBSET.relative_to(REPO)} (no {directory})"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return f"{cpu}, {os.cpu_count()} CPU(s) visible"


def run_profile(profile: Profile, catalogue, repeats: int) -> dict:
    request = profile.request()
    seconds, plan, error = [], None, None
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            plan = plan_week(request, catalogue)
        except Infeasible as exc:
            error = str(exc)
        seconds.append(time.perf_counter() - started)
    violations = [str(v) for v in check_plan(plan, request, catalogue)] if plan else [f"no plan: {error}"]
    return {
        "profile": profile.name,
        "kcal": profile.kcal,
        "protein_g": request.targets.protein_g,
        "days": profile.days,
        "slots": list(profile.slots),
        "budget_usd_per_week": profile.budget,
        "allergies": request.allergies.describe(),
        "seconds": [round(s, 3) for s in seconds],
        "median_s": round(statistics.median(seconds), 3),
        "cost_usd": round(plan.cost_usd, 2) if plan else None,
        "passed": not violations,
        "violations": violations,
    }


def render(rows: list[dict], summary: dict) -> str:
    lines = [
        "| profile | kcal | days × slots | budget $/wk | median s | cost $ | checker |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        budget = f"{r['budget_usd_per_week']:.0f}" if r["budget_usd_per_week"] else "-"
        cost = f"{r['cost_usd']:.2f}" if r["cost_usd"] is not None else "-"
        verdict = "pass" if r["passed"] else f"FAIL: {r['violations'][0][:60]}"
        shape = f"{r['days']} × {len(r['slots'])}"
        lines.append(
            f"| {r['profile']} | {r['kcal']:.0f} | {shape} | {budget} | {r['median_s']:.3f} | {cost} | {verdict} |"
        )
    lines += [
        "",
        f"median {summary['median_s']:.3f} s, p95 {summary['p95_s']:.3f} s, max {summary['max_s']:.3f} s "
        f"over {summary['timings']} timings; checker pass {summary['pass_rate']:.0%} "
        f"— goal p95 ≤ {GOAL_P95_S} s and 100 %: {'met' if summary['met'] else 'MISSED'}",
    ]
    return "\n".join(lines)


def main(
    recipes: Annotated[Path, typer.Option(help="The recipe folder (with prices.csv).")] = REPO / DEFAULT_RECIPES,
    nutrition: Annotated[Path, typer.Option(help="Nutrition tables (params paths.nutrition).")] = REPO
    / "data/nutrition",
    repeats: Annotated[int, typer.Option(help="Plans per profile; its time is their median.", min=1)] = 3,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the numbers.")] = REPO
    / "reports/plans/benchmark.json",
) -> None:
    """Plan every profile, check every plan independently, print the table and write the JSON report."""
    table, table_source = nutrition_table(nutrition)
    catalogue = price_recipes(load_recipes(recipes), table, load_prices(recipes / PRICES_FILE))
    rows = [run_profile(p, catalogue, repeats) for p in PROFILES]
    timings = sorted(s for r in rows for s in r["seconds"])
    summary = {
        "median_s": statistics.median(timings),
        "p95_s": timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))],
        "max_s": timings[-1],
        "timings": len(timings),
        "pass_rate": sum(r["passed"] for r in rows) / len(rows),
    }
    summary["met"] = summary["p95_s"] <= GOAL_P95_S and summary["pass_rate"] == 1.0
    header = f"{len(PROFILES)} profiles × {repeats}, {len(catalogue)} recipes, USDA table: {table_source}; {machine()}"
    typer.echo(header + "\n\n" + render(rows, summary))
    report = {
        "date": dt.date.today().isoformat(),
        "header": header,
        "goal_p95_s": GOAL_P95_S,
        **summary,
        "profiles": rows,
    }
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=2) + "\n")
    raise typer.Exit(0 if summary["met"] else 1)


if __name__ == "__main__":
    typer.run(main)

"""Stage validate_recipes: the meal planner's recipe catalogue (data/recipes) checked against the USDA table.

Fails, listing every problem, on an unknown ingredient (NDB), a missing or zero gram amount, an unknown price item,
a bad field or an allergen the ingredients' USDA descriptions name but the recipe does not declare. Writes
<validate_recipes.reports>/catalogue.json: counts per cuisine and slot, and kcal, protein and cost per serving.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from pipelines._cli import run, setup_logging, stage_app
from training.config import ParamsError, load_params

if TYPE_CHECKING:
    from nutrition.planning.recipes import PricedRecipe

app = stage_app(__doc__)

REPORT_FILE = "catalogue.json"


class ValidateRecipesParams(BaseModel):
    """params.yaml `validate_recipes`: where the catalogue and its report live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipes: Path  # the <cuisine>.yaml files
    prices: Path  # the price table (prices.csv)
    reports: Path


def stage_params() -> tuple[ValidateRecipesParams, Path]:
    """This stage's section of params.yaml and the nutrition table folder (paths.nutrition)."""
    params = load_params()
    try:
        section = ValidateRecipesParams.model_validate((params.model_extra or {}).get("validate_recipes"))
    except ValidationError as exc:
        raise ParamsError(f"params.yaml validate_recipes does not match the expected parameters:\n{exc}") from exc
    return section, params.paths.nutrition


def catalogue_report(priced: list[PricedRecipe]) -> dict:
    """Counts per cuisine and slot, and each recipe's per-serving figures, for reports/plans/catalogue.json."""
    recipes = [p.recipe for p in priced]
    return {
        "recipes": len(recipes),
        "per_cuisine": dict(sorted(Counter(r.cuisine for r in recipes).items())),
        "per_slot": dict(sorted(Counter(s for r in recipes for s in r.slots).items())),
        "per_tag": dict(sorted(Counter(t for r in recipes for t in r.tags).items())),
        "per_recipe": {
            p.recipe.id: {
                "cuisine": p.recipe.cuisine,
                "slots": list(p.recipe.slots),
                "kcal": round(p.per_serving.kcal, 1),
                "protein_g": round(p.per_serving.protein_g, 1),
                "fat_g": round(p.per_serving.fat_g, 1),
                "carbs_g": round(p.per_serving.carbs_g, 1),
                "cost_usd": round(p.cost_per_serving_usd, 2),
                "allergens": sorted(p.allergens),
            }
            for p in priced
        },
    }


@app.command()
def main(
    recipes: Annotated[
        Path | None, typer.Option(help="Recipe folder (default: params validate_recipes.recipes).")
    ] = None,
    prices: Annotated[Path | None, typer.Option(help="Price table (default: params validate_recipes.prices).")] = None,
    nutrition: Annotated[
        Path | None, typer.Option(help="Nutrition table folder (default: params paths.nutrition).")
    ] = None,
    reports: Annotated[
        Path | None, typer.Option(help="Report folder (default: params validate_recipes.reports).")
    ] = None,
) -> None:
    """Validate every recipe and write the catalogue report; exit non-zero listing every problem."""
    from nutrition import NutritionTable
    from nutrition.planning.recipes import CatalogueError, load_prices, load_recipes, price_recipes, validate
    from training.atomic import write_json

    setup_logging()
    section, table_dir = stage_params()
    catalogue = load_recipes(recipes or section.recipes)
    price_table = load_prices(prices or section.prices)
    table = NutritionTable.load(nutrition or table_dir)
    if problems := validate(catalogue, table, price_table):
        raise CatalogueError(problems)
    report = catalogue_report(price_recipes(catalogue, table, price_table))
    write_json((reports or section.reports) / REPORT_FILE, report)
    typer.echo(f"validate_recipes: {report['recipes']} recipes, {len(price_table)} priced items, no problems")


if __name__ == "__main__":
    run(app)

"""Stage nutrition_table: per-100 g nutrients, household portions and the ECUSTFD food mapping from SR28."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.nutrition).")] = None,
) -> None:
    """Build foods.parquet, portions.parquet and ecustfd_foods.parquet."""
    from training.atomic import atomic_dir
    from training.data.usda_sr28 import build_tables, resolve_ecustfd_foods, write_tables
    from training.inference.labels import FOOD_TYPES

    setup_logging()
    params = load_params()
    foods, portions = build_tables(params.paths.raw_usda)
    ecustfd = resolve_ecustfd_foods(foods, params.paths.foods_map, FOOD_TYPES)
    with atomic_dir(out or params.paths.nutrition) as scratch:
        write_tables(scratch, foods, portions, ecustfd)
    typer.echo(f"nutrition_table: {len(foods)} foods, {len(portions)} portions, {len(ecustfd)} ECUSTFD foods mapped")


if __name__ == "__main__":
    run(app)

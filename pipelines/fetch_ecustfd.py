"""Stage fetch_ecustfd: copy or clone ECUSTFD into the raw data folder and verify it is complete."""

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
        str | None, typer.Option(help="Local directory or git URL (default: params data.ecustfd.source).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.raw_ecustfd).")] = None,
) -> None:
    """Fetch ECUSTFD (2,978 photos, their VOC XMLs and density.xls) and verify it."""
    from training.data.ecustfd_source import fetch

    setup_logging()
    params = load_params()
    cfg = params.data.ecustfd
    check = fetch(
        source or cfg.source, out or params.paths.raw_ecustfd, rev=cfg.rev, expected_images=cfg.expected_images
    )
    typer.echo(f"fetch_ecustfd: {check.n_images} photos and {check.n_annotations} annotations verified")


if __name__ == "__main__":
    run(app)

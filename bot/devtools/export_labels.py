"""Export the labelled crops people taught the bot, for the pipeline's import_labels stage to train on.

    python -m bot.devtools.export_labels --out labels-export

Writes DIR/labels.jsonl (one line a labelled crop: sha256, box, label, ndb, display, user) and DIR/photos/<sha256>
(the photo's bytes from the bot's photo store). A crop without a stored photo or a box is left out and counted.
Set `import_labels.source: DIR` in params.yaml, then `dvc repro`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.settings import BotSettings
from bot.storage.photo_store import PhotoStore, make_photo_store

LABELS_FILE = "labels.jsonl"  # the names training/data/labelled.py reads
PHOTOS_DIR = "photos"
BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")

cli = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


def export_labels(crops, photos: PhotoStore, out: Path) -> tuple[int, int]:
    """Write `crops` (`LabelledCrop`s) and their photos under `out`; returns (written, left out)."""
    out = Path(out)
    (out / PHOTOS_DIR).mkdir(parents=True, exist_ok=True)
    written, left_out = 0, 0
    with (out / LABELS_FILE).open("w") as handle:
        for crop in crops:
            box = crop.box or {}
            if not crop.photo_sha256 or any(k not in box for k in BOX_KEYS):
                left_out += 1
                continue
            target = out / PHOTOS_DIR / crop.photo_sha256
            if not target.is_file():
                try:
                    target.write_bytes(photos.get(crop.photo_sha256))
                except KeyError:
                    left_out += 1
                    continue
            row = {
                "sha256": crop.photo_sha256,
                "box": {k: float(box[k]) for k in BOX_KEYS},
                "label": crop.label,
                "ndb": crop.ndb,
                "display": crop.display_name,
                "user": str(crop.user_id),
            }
            handle.write(json.dumps(row, sort_keys=True) + "\n")
            written += 1
    return written, left_out


@cli.command()
def main(
    out: Annotated[Path, typer.Option(help="folder to write labels.jsonl and photos/ to")],
) -> None:
    """Export every labelled crop of the bot's database (BOT_DATABASE_URL) with its photo (BOT_PHOTO_STORE)."""
    from bot.storage.factory import make_store

    settings = BotSettings()
    store = make_store(settings.database_url)
    photos = make_photo_store(settings.photo_store, settings.photo_store_endpoint_url, settings.aws_region)
    written, left_out = export_labels(store.labelled_crops(), photos, out)
    typer.echo(
        f"exported {written} labelled crops to {out}" + (f" ({left_out} without photo or box)" if left_out else "")
    )


if __name__ == "__main__":
    cli()

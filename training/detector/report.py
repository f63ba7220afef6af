"""Pictures for people: the confusion matrix and a grid of annotated held-out photos."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from training.detector.metrics import MISSED


def confusion_plot(confusion: Counter, labels: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = [*labels, MISSED]
    matrix = np.zeros((len(labels), len(columns)))
    for (truth, predicted), n in confusion.items():
        matrix[labels.index(truth), columns.index(predicted) if predicted in columns else -1] += n
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(11, 9))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(columns)):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    int(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shares[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted (the served box matched to it one-to-one, IoU ≥ 0.5)")
    ax.set_ylabel("true food")
    ax.set_title("Food detector on held-out test items")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def annotated_grid(
    photos: Sequence[tuple[Image.Image, list, list]], path: Path, columns: int = 4, width: int = 320
) -> None:
    """photos: (image, truths, predictions) with Labeled boxes; truth in white, prediction green/red."""
    tiles = []
    for image, truths, predictions in photos:
        scale = width / image.width
        tile = image.resize((width, round(image.height * scale)))
        draw = ImageDraw.Draw(tile)
        for t in truths:
            draw.rectangle([v * scale for v in (t.xmin, t.ymin, t.xmax, t.ymax)], outline="white", width=1)
        truth_labels = {t.label for t in truths}
        for p in predictions:
            color = (46, 204, 113) if p.label in truth_labels else (231, 76, 60)
            draw.rectangle([v * scale for v in (p.xmin, p.ymin, p.xmax, p.ymax)], outline=color, width=2)
            draw.text((p.xmin * scale + 3, p.ymin * scale + 2), f"{p.label} {p.score:.2f}", fill=color)
        tiles.append(tile)
    height = max(t.height for t in tiles)
    rows = -(-len(tiles) // columns)
    grid = Image.new("RGB", (columns * width, rows * height), "black")
    for k, tile in enumerate(tiles):
        grid.paste(tile, ((k % columns) * width, (k // columns) * height))
    grid.save(path)

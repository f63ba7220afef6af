"""Single-image CPU latency (p50/p95) of the food localiser: torch (ultralytics) vs ONNX Runtime, side by side.

    python benchmarks/detector_latency.py                       # trained weights from params.yaml, 320/480/640
    python benchmarks/detector_latency.py --photos 40 --sizes 320 --sizes 640 --json /tmp/latency.json

For each size the localiser is exported to ONNX in a temporary folder (as register_detector exports it:
static shape), then both backends run on the same real ECUSTFD photos, alternating photo by photo so that
load from other processes hits both alike. Two views:

- predict: the `Localiser` wrapper end to end (letterbox, forward, NMS), one photo a call — what serving pays.
  torch letterboxes to the photo's aspect (a 4:3 photo at 640 runs as 640x480); the static ONNX graph that
  register_detector exports always takes a square; a dynamic-shape export is timed too, since it can go rect.
- forward: the network alone on the same square 1x3xSxS tensor, torch `inference_mode` vs `session.run`.

Photos are decoded once beforehand; warm-up calls are not counted. The whole FoodDetector (localiser + crop
classifier) is timed at the trained size as well, with either localiser backend.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    import numpy as np

    ms = np.asarray(seconds) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "n": len(ms)}


def time_side_by_side(calls: dict[str, Callable], inputs: list, warmup: int) -> dict[str, dict[str, float]]:
    """Time each call once per input, alternating between calls; the first `warmup` inputs are not counted."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i, item in enumerate(inputs):
        for name, call in calls.items():
            started = time.perf_counter()
            call(item)
            elapsed = time.perf_counter() - started
            if i >= warmup:
                times[name].append(elapsed)
    return {name: percentiles(values) for name, values in times.items()}


def pick_photos(folder: Path, n: int) -> list[Path]:
    """`n` photos spread evenly over the sorted folder (every food type, side and top views)."""
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not photos:
        raise typer.BadParameter(f"no photos in {folder}")
    step = max(1, len(photos) // n)
    return photos[::step][:n]


def export_onnx(weights: Path, imgsz: int, folder: Path, dynamic: bool = False) -> Path:
    """Export a copy of `weights` to ONNX in `folder` (ultralytics writes beside the .pt)."""
    from training.inference.yolo_env import load_ultralytics

    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / weights.name
    shutil.copyfile(weights, copy)
    return Path(load_ultralytics().YOLO(str(copy)).export(format="onnx", imgsz=imgsz, dynamic=dynamic, verbose=False))


def square_tensor(image, imgsz: int):
    """The photo resized to imgsz x imgsz as a float 1x3xHxW array in [0, 1]."""
    import numpy as np

    array = np.asarray(image.resize((imgsz, imgsz)), dtype=np.float32) / 255.0
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None])


def forward_calls(weights: Path, onnx_path: Path) -> dict[str, Callable]:
    """The bare network: fused torch module vs an ONNX Runtime session, on the same numpy input."""
    import onnxruntime
    import torch

    from training.inference.yolo_env import load_ultralytics

    net = load_ultralytics().YOLO(str(weights)).model.float().fuse().eval()
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def torch_forward(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x))

    return {"torch": torch_forward, "onnx": lambda x: session.run(None, {input_name: x})}


def ratio(onnx: dict, torch_: dict) -> float:
    return onnx["p50"] / torch_["p50"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU(s) visible"


def render(rows: list[dict], full: list[dict], header: str) -> str:
    lines = [header, ""]
    cell = lambda t: f"{t['p50']:.1f} / {t['p95']:.1f}"  # noqa: E731
    lines.append(
        "| imgsz | predict: torch p50 / p95 ms | ONNX static | ratio | ONNX dynamic | ratio "
        "| forward (square): torch | ONNX | ratio |"
    )
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        p, f = r["predict"], r["forward"]
        lines.append(
            f"| {r['imgsz']} | {cell(p['torch'])} | {cell(p['onnx'])} | {ratio(p['onnx'], p['torch']):.2f} "
            f"| {cell(p['onnx_dynamic'])} | {ratio(p['onnx_dynamic'], p['torch']):.2f} "
            f"| {cell(f['torch'])} | {cell(f['onnx'])} | {ratio(f['onnx'], f['torch']):.2f} |"
        )
    lines += ["", "ratio = ONNX p50 / torch p50 (below 1: ONNX Runtime is faster); all times in ms."]
    if full:
        lines += [
            "",
            "| whole FoodDetector (localiser + crop classifier) | imgsz | p50 ms | p95 ms |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| localiser on {r['backend']} | {r['imgsz']} | {r['p50']:.1f} | {r['p95']:.1f} |" for r in full]
    return "\n".join(lines)


@app.command()
def main(
    weights: Annotated[
        Path | None, typer.Option(help="Localiser weights (default: <params paths.detector>/localiser.pt).")
    ] = None,
    photos: Annotated[
        Path | None,
        typer.Option(help="Folder of photos (default: the fetched ECUSTFD copy, else data.ecustfd.source)."),
    ] = None,
    n_photos: Annotated[int, typer.Option("--n-photos", min=2, help="Photos timed per size and backend.")] = 30,
    warmup: Annotated[int, typer.Option(min=1, help="Leading photos run but not counted.")] = 3,
    sizes: Annotated[list[int], typer.Option("--sizes", help="Input sizes (repeat the option).")] = [320, 480, 640],  # noqa: B006
    full_detector: Annotated[bool, typer.Option(help="Also time the whole FoodDetector at the trained size.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers here.")] = None,
) -> None:
    """Print p50/p95 latency tables for torch vs ONNX Runtime at each size."""
    from PIL import Image

    from training.config import load_params
    from training.inference.localiser import WEIGHTS_FILE, Localiser

    params = load_params()
    weights = weights or params.paths.detector / WEIGHTS_FILE
    if not weights.is_file():
        raise typer.BadParameter(
            f"no localiser weights at {weights}: run `make run` (dvc repro) first", param_hint="--weights"
        )
    if photos is None:
        photos = params.paths.raw_ecustfd / "JPEGImages"
        if not photos.is_dir():
            photos = Path(params.data.ecustfd.source) / "JPEGImages"
    images = [Image.open(p).convert("RGB") for p in pick_photos(photos, n_photos + warmup)]
    conf = params.register_detector.conf
    trained = params.train_detector.active.imgsz

    from training.inference.yolo_env import load_ultralytics

    ultralytics = load_ultralytics()  # before anything else imports it: offline, no home-dir writes
    import onnxruntime
    import torch

    header = (
        f"detector latency, {dt.date.today().isoformat()}, {machine()}; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}, ultralytics {ultralytics.__version__}; "
        f"{len(images) - warmup} photos from {photos} after {warmup} warm-up; weights {weights}; conf {conf}"
    )
    rows, full = [], []
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        exported = {s: export_onnx(weights, s, Path(tmp) / str(s)) for s in sorted({*sizes, trained})}
        dynamic = {s: export_onnx(weights, s, Path(tmp) / f"{s}-dynamic", dynamic=True) for s in sizes}
        for size in sizes:
            typer.echo(f"timing imgsz {size}…", err=True)
            predict = {
                "torch": Localiser(weights, imgsz=size, conf=conf),
                "onnx": Localiser(exported[size], imgsz=size, conf=conf),
                "onnx_dynamic": Localiser(dynamic[size], imgsz=size, conf=conf),
            }
            rows.append(
                {
                    "imgsz": size,
                    "predict": time_side_by_side(
                        {k: (lambda im, m=m: m([im])) for k, m in predict.items()}, images, warmup
                    ),
                    "forward": time_side_by_side(
                        forward_calls(weights, exported[size]), [square_tensor(im, size) for im in images], warmup
                    ),
                }
            )
        if full_detector:
            from training.inference.backbone import CropFeatureExtractor
            from training.inference.crop_classifier import WEIGHTS_FILE as CLASSIFIER_FILE
            from training.inference.crop_classifier import CropClassifier
            from training.inference.food_detector import FoodDetector

            typer.echo(f"timing the whole FoodDetector at imgsz {trained}…", err=True)
            extractor = CropFeatureExtractor.from_dir(params.paths.backbone)
            classifier = CropClassifier.load(weights.parent / CLASSIFIER_FILE)
            pad = params.extract_features.pad_fraction
            detectors = {
                backend: FoodDetector(
                    Localiser(path, imgsz=trained, conf=conf), extractor, classifier, pad_fraction=pad
                )
                for backend, path in (("torch", weights), ("onnx", exported[trained]))
            }
            timed = time_side_by_side({k: (lambda im, d=d: d([im])) for k, d in detectors.items()}, images, warmup)
            full = [{"backend": k, "imgsz": trained, **v} for k, v in timed.items()]
    typer.echo("\n" + render(rows, full, header))
    if json_out:
        json_out.write_text(json.dumps({"header": header, "localiser": rows, "food_detector": full}, indent=2))


if __name__ == "__main__":
    app()

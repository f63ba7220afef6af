"""ONNX Runtime twins of the localiser and the crop backbone: the same boxes and features, several times faster on CPU.

Both are exported from the loaded torch models when serving starts (about 5 s), so a registered model needs no
second artifact and the two runtimes can never drift apart. `use_onnx(detector)` swaps them into a `FoodDetector`;
the torch path stays one setting away (`PLATE_SERVING_RUNTIME=torch`) for comparison and parity tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from training.inference.localiser import LOCALISER_CLASSES, Detection

MAX_NMS = 30_000  # candidate boxes kept for NMS, and the class offset that keeps classes apart: ultralytics' values
MAX_WH = 7680
MAX_DET = 300
PAD_VALUE = 114


def machine_threads() -> int:
    """The cores this process may use (its CPU affinity, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def set_threads(threads: int) -> None:
    """torch: one intra-op pool of `threads`, no inter-op pool on top of it. numpy's BLAS: one thread — the namer's
    matrix products are small, and a second BLAS pool spinning beside torch's or ONNX Runtime's only slows both."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # settable only before the first parallel work; then it stays as it was
        torch.set_num_interop_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # then BLAS keeps its own default
        return
    threadpool_limits(1, user_api="blas")


def session(path: Path, threads: int):
    """A CPU InferenceSession with `threads` intra-op threads and no inter-op parallelism (one model call at a time
    uses the whole machine; concurrent requests queue in front of it instead of oversubscribing the cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def letterbox(rgb: np.ndarray, imgsz: int, stride: int, auto: bool) -> np.ndarray:
    """Resize keeping the aspect ratio and pad with grey, as ultralytics' `LetterBox` does: to the smallest
    stride multiple (`auto`, one photo or photos of one shape) or to `imgsz` square."""
    import cv2

    h, w = rgb.shape[:2]
    r = min(imgsz / h, imgsz / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = imgsz - new_w, imgsz - new_h
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != (new_w, new_h):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom, left, right = round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1)
    return cv2.copyMakeBorder(rgb, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS (torchvision's definition): indices of the kept boxes, by decreasing score."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        tl = np.maximum(boxes[best, :2], boxes[rest, :2])
        br = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.clip(br - tl, 0, None).prod(axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_predictions(pred: np.ndarray, conf: float, iou: float) -> np.ndarray:
    """One image's raw YOLOv8 output [4 + classes, anchors] (centre x, y, w, h, class scores) → [N, 6] rows
    (x1, y1, x2, y2, score, class) after the confidence floor and per-class NMS, as ultralytics'
    `non_max_suppression` (best class only) returns them."""
    pred = pred.T
    scores_all = pred[:, 4:]
    cls = scores_all.argmax(axis=1)
    score = scores_all[np.arange(len(pred)), cls]
    keep = score > conf
    xywh, score, cls = pred[keep, :4], score[keep], cls[keep]
    if not len(score):
        return np.zeros((0, 6), np.float32)
    xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    if len(score) > MAX_NMS:
        top = np.argsort(-score, kind="stable")[:MAX_NMS]
        xyxy, score, cls = xyxy[top], score[top], cls[top]
    kept = nms(xyxy + cls[:, None].astype(np.float32) * MAX_WH, score, iou)[:MAX_DET]
    return np.concatenate([xyxy[kept], score[kept, None], cls[kept, None].astype(np.float32)], axis=1)


def scale_to_image(xyxy: np.ndarray, input_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """Boxes on the letterboxed input → pixels of the image, clipped to it (ultralytics' `scale_boxes`)."""
    (ih, iw), (h, w) = input_hw, image_hw
    gain = min(ih / h, iw / w)
    new_h, new_w = max(round(h * gain), 1), max(round(w * gain), 1)
    pad_x, pad_y = round((iw - new_w) / 2 - 0.1), round((ih - new_h) / 2 - 0.1)
    out = xyxy.astype(np.float64).copy()
    out[:, [0, 2]] = ((out[:, [0, 2]] - pad_x) / (new_w / w)).clip(0, w)
    out[:, [1, 3]] = ((out[:, [1, 3]] - pad_y) / (new_h / h)).clip(0, h)
    return out


class OnnxLocaliser:
    """The `Localiser` (same call, same Detections) on ONNX Runtime: letterbox, YOLO output decoding and NMS in
    numpy, matching ultralytics' predict."""

    def __init__(self, onnx_path: Path, imgsz: int, conf: float, iou: float, stride: int, threads: int):
        self.session = session(onnx_path, threads)
        self.input = self.session.get_inputs()[0].name
        self.imgsz, self.conf, self.iou, self.stride = imgsz, conf, iou, stride

    @classmethod
    def from_torch(cls, localiser, threads: int) -> OnnxLocaliser:
        """Export `localiser` (a `Localiser`) with dynamic input sizes; the ONNX file lives only while loading."""
        with tempfile.TemporaryDirectory() as tmp:
            weights = Path(tmp) / "localiser.pt"
            shutil.copyfile(localiser.model.ckpt_path, weights)  # the export writes beside the weights
            yolo = type(localiser.model)(str(weights))
            onnx_path = yolo.export(
                format="onnx", imgsz=localiser.imgsz, dynamic=True, simplify=False, device="cpu", verbose=False
            )
            stride = int(max(localiser.model.model.stride))
            return cls(Path(onnx_path), localiser.imgsz, localiser.conf, localiser.iou, stride, threads)

    def __call__(self, images: list) -> list[list[Detection]]:
        """Detections for each RGB image (PIL or array), most confident first."""
        arrays = [np.asarray(im.convert("RGB") if hasattr(im, "convert") else im) for im in images]
        if not arrays:
            return []
        auto = len({a.shape for a in arrays}) == 1  # ultralytics letterboxes mixed shapes to the full square
        batch = np.stack([letterbox(a, self.imgsz, self.stride, auto) for a in arrays])
        tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        (raw,) = self.session.run(None, {self.input: tensor})
        out = []
        for array, pred in zip(arrays, raw):
            rows = decode_predictions(pred, self.conf, self.iou)
            xyxy = scale_to_image(rows[:, :4], tensor.shape[2:], array.shape[:2])
            order = np.argsort(-rows[:, 4], kind="stable")
            out.append(
                [Detection(LOCALISER_CLASSES[int(rows[k, 5])], float(rows[k, 4]), *map(float, xyxy[k])) for k in order]
            )
        return out


class OnnxFeatureExtractor:
    """`CropFeatureExtractor` (same call, same [N, 1280] features) on ONNX Runtime: all crops in one call."""

    def __init__(self, onnx_path: Path, torch_extractor, threads: int):
        self.session = session(onnx_path, threads)
        self.input = self.session.get_inputs()[0].name
        self.torch = torch_extractor  # its preprocessing, so the two runtimes see the same pixels
        self.size, self.batch_size = torch_extractor.size, torch_extractor.batch_size

    @classmethod
    def from_torch(cls, extractor, threads: int) -> OnnxFeatureExtractor:
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.features = model.features

            def forward(self, x):
                return self.features(x).mean(dim=(2, 3))

        example = torch.zeros(2, 3, extractor.size, extractor.size)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "backbone.onnx"
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
                torch.onnx.export(
                    Pooled(extractor.model).eval(),
                    (example,),
                    str(path),
                    input_names=["crops"],
                    output_names=["features"],
                    dynamic_axes={"crops": {0: "n"}, "features": {0: "n"}},
                    dynamo=False,
                )
            return cls(path, extractor, threads)

    def __call__(self, crops: Iterable, progress: bool = False) -> np.ndarray:
        crops = list(crops)
        if not crops:
            return np.zeros((0, 1280), np.float32)
        parts = []
        for start in range(0, len(crops), self.batch_size):
            batch = self.torch._tensor(crops[start : start + self.batch_size]).numpy()
            parts.append(self.session.run(None, {self.input: batch})[0])
        return np.concatenate(parts).astype(np.float32, copy=False)


def use_onnx(detector, threads: int | None = None):
    """`detector` (a `FoodDetector`) with its localiser and backbone on ONNX Runtime, in place; returns it."""
    threads = threads or machine_threads()
    detector.localiser = OnnxLocaliser.from_torch(detector.localiser, threads)
    detector.extractor = OnnxFeatureExtractor.from_torch(detector.extractor, threads)
    return detector

"""Make `import torchvision` (and so ultralytics) work where torchvision's compiled ops cannot load.

The registry's torchvision is a CUDA build; on CPU-only torch its `_C` extension fails to load and the
import dies on `operator torchvision::nms does not exist`. Importing this module first registers a
pure-torch CPU `torchvision::nms` (and its quantized twin `qnms`) — only when the compiled op is really
missing, so machines where torchvision works keep its native kernels. Other C++ ops (roi_align,
deform_conv…) stay unavailable; nothing here uses them. Importing the module applies the fix: that is its whole purpose.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_library: torch.library.Library | None = None  # kept alive: the registration lives as long as this object


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, as torchvision defines it.

    Args:
        boxes: [N, 4] as (x1, y1, x2, y2).
        scores: [N].
        iou_threshold: boxes overlapping a kept box by more than this IoU are dropped.

    Returns:
        int64 indices of the kept boxes, by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    boxes = boxes.float()
    order = torch.argsort(scores, descending=True, stable=True)
    boxes = boxes[order]
    areas = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    # One row of IoUs per kept box: no N×N matrix, which would not fit for the 30k candidates that an
    # untrained detector can emit.
    remaining = torch.arange(boxes.shape[0], device=boxes.device)
    keep = []
    while remaining.numel():
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        top_left = torch.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = torch.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
        iou = inter / (areas[best] + areas[rest] - inter).clamp(min=1e-12)
        remaining = rest[iou <= iou_threshold]
    return order[torch.stack(keep)]


def _qnms_reference(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return nms_reference(dets.dequantize(), scores.dequantize(), iou_threshold)


def _nms_op_exists() -> bool:
    try:
        torch.ops.torchvision.nms  # noqa: B018 — attribute lookup resolves the registered op
    except (AttributeError, RuntimeError):
        return False
    return True


def _load_compiled_ops() -> bool:
    """Try torchvision's own extension without importing torchvision (whose import is what fails)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    for lib in Path(spec.origin).parent.glob("_C*.so"):
        try:
            torch.ops.load_library(str(lib))
        except (OSError, RuntimeError) as exc:
            log.debug("torchvision extension %s does not load: %s", lib, exc)
    return _nms_op_exists()


def _allow_box_ops() -> None:
    """torchvision's box ops refuse to run when its extension failed to load; the box ops now have kernels."""
    if importlib.util.find_spec("torchvision") is None:
        return
    import torchvision.ops.boxes as boxes  # safe now: the ops its import checks for are registered

    boxes._assert_has_ops = lambda: None


def ensure_torchvision(op_exists=None, load_compiled=None) -> bool:
    """Register the pure-torch NMS if, and only if, no `torchvision::nms` can be had otherwise.

    Args:
        op_exists, load_compiled: injectable checks, for tests of both branches.

    Returns:
        True when the fallback is (now or already) in use, False when the compiled op serves.
    """
    global _library
    if _library is not None:
        return True
    op_exists = op_exists or _nms_op_exists
    load_compiled = load_compiled or _load_compiled_ops
    if op_exists() or load_compiled():
        return False
    library = torch.library.Library("torchvision", "DEF")
    # torchvision's import registers fake kernels for both ops, so both must exist.
    library.define("nms" + _SCHEMA)
    library.impl("nms", nms_reference, "CPU")
    library.define("qnms" + _SCHEMA)
    library.impl("qnms", _qnms_reference, "CPU")
    _library = library
    _allow_box_ops()
    log.info("torchvision's compiled ops are unavailable: using the pure-torch NMS")
    return True


FALLBACK_ACTIVE = ensure_torchvision()

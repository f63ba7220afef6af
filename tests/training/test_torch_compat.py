import subprocess
import sys

import pytest
import torch

import training.inference.torch_compat as compat


def brute_force_nms(boxes, scores, threshold):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        ok = True
        for j in keep:
            x1, y1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            x2, y2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 200
    wh = torch.rand(n, 2, generator=g) * 60 + 1
    return torch.cat([xy, xy + wh], dim=1), torch.rand(n, generator=g)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_reference_nms_matches_brute_force(seed, threshold):
    boxes, scores = random_boxes(150, seed)
    kept = compat.nms_reference(boxes, scores, threshold).tolist()
    assert kept == brute_force_nms(boxes.tolist(), scores.tolist(), threshold)


def test_empty_input():
    assert compat.nms_reference(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)


def test_torchvision_ops_work_here():
    """This machine has a CUDA torchvision on CPU torch: the fallback must carry the box ops."""
    import torchvision
    from torchvision.ops import batched_nms, nms

    boxes, scores = random_boxes(300, 11)
    expected = compat.nms_reference(boxes, scores, 0.5)
    assert torch.equal(nms(boxes, scores, 0.5), expected)
    idxs = torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(0))
    kept = batched_nms(boxes, scores, idxs, 0.5)
    assert 0 < len(kept) <= 300
    assert torchvision.models.mobilenet_v2(num_classes=3)(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


def test_no_fallback_when_the_compiled_op_exists():
    """Where torchvision's own op loads (users' machines), nothing is registered."""
    code = (
        "import training.inference.torch_compat as c\n"
        "c._library = None\n"  # forget this process's registration, as if on a fresh machine
        "assert c.ensure_torchvision(op_exists=lambda: True) is False\n"
        "assert c.ensure_torchvision(op_exists=lambda: False, load_compiled=lambda: True) is False\n"
        "assert c._library is None\n"
        "print('native')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "native" in out.stdout, out.stderr


def test_fallback_registered_once_when_op_missing():
    assert (compat._library is not None) == compat.FALLBACK_ACTIVE
    if compat.FALLBACK_ACTIVE:
        assert compat.ensure_torchvision() is True  # idempotent
        assert torch.ops.torchvision.nms is not None

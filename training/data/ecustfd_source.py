"""Obtain the ECUST Food Dataset from a local copy or its upstream git repository, and verify it."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from training.atomic import atomic_dir

log = logging.getLogger(__name__)

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
DENSITY = "density.xls"


class DatasetIncompleteError(RuntimeError):
    """The dataset copy lacks files that every later stage needs."""


class SourceNotFoundError(FileNotFoundError):
    """The configured source location does not exist."""


@dataclass(frozen=True)
class DatasetCheck:
    n_images: int
    n_annotations: int


def is_git_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "git@", "ssh://", "git://", "file://")) or source.endswith(".git")


def verify(root: Path, expected_images: int) -> DatasetCheck:
    """Check that `root` holds the whole dataset.

    Raises:
        DatasetIncompleteError: naming every missing piece (folders, density.xls, photos without an
            annotation and annotations without a photo, or a wrong image count).
    """
    problems: list[str] = []
    images_dir, ann_dir = root / IMAGES, root / ANNOTATIONS
    for folder in (images_dir, ann_dir):
        if not folder.is_dir():
            problems.append(f"folder {folder} is missing")
    if not (root / DENSITY).is_file():
        problems.append(f"{root / DENSITY} is missing")
    if problems:
        raise DatasetIncompleteError(f"ECUSTFD at {root} is incomplete: " + "; ".join(problems))

    images = {p.stem for p in images_dir.iterdir() if p.suffix.lower() in {".jpg", ".jpeg"}}
    annotations = {p.stem for p in ann_dir.iterdir() if p.suffix.lower() == ".xml"}
    if no_xml := sorted(images - annotations):
        problems.append(f"{len(no_xml)} photos without annotation, e.g. {no_xml[:5]}")
    if no_img := sorted(annotations - images):
        problems.append(f"{len(no_img)} annotations without photo, e.g. {no_img[:5]}")
    if len(images) != expected_images:
        problems.append(f"{len(images)} photos found, {expected_images} expected")
    if problems:
        raise DatasetIncompleteError(f"ECUSTFD at {root} is incomplete: " + "; ".join(problems))
    return DatasetCheck(n_images=len(images), n_annotations=len(annotations))


def fetch(source: str, out: Path, *, rev: str, expected_images: int) -> DatasetCheck:
    """Copy (local directory) or shallow-clone (git URL) the dataset into `out`, verified.

    `out` is replaced only once the new copy has passed verification.
    """
    with atomic_dir(out) as scratch:
        if is_git_url(source):
            _clone(source, rev, scratch)
        else:
            src = Path(source).expanduser()
            if not src.is_dir():
                raise SourceNotFoundError(
                    f"ECUSTFD source directory {src.resolve()} does not exist; set data.ecustfd.source "
                    "in params.yaml to a local copy or to the upstream git URL"
                )
            verify(src, expected_images)  # fail before copying 3k files from a broken source
            for name in (ANNOTATIONS, IMAGES):
                shutil.copytree(src / name, scratch / name)
            shutil.copy2(src / DENSITY, scratch / DENSITY)
        check = verify(scratch, expected_images)
    log.info("ECUSTFD ready at %s: %d photos, %d annotations", out, check.n_images, check.n_annotations)
    return check


def _clone(url: str, rev: str, dest: Path) -> None:
    log.info("cloning %s at %s", url, rev)
    try:
        subprocess.run(["git", "init", "-q", str(dest)], check=True)
        subprocess.run(["git", "-C", str(dest), "fetch", "-q", "--depth", "1", url, rev], check=True)
        subprocess.run(["git", "-C", str(dest), "checkout", "-q", "FETCH_HEAD"], check=True)
    except subprocess.CalledProcessError as exc:
        raise SourceNotFoundError(f"could not fetch {url} at {rev}: {exc}") from exc
    shutil.rmtree(dest / ".git", ignore_errors=True)

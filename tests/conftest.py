"""Shared fixtures: the real ECUSTFD copy beside the repo, and small datasets cut from it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests_support import REPO
SHARED_ECUSTFD = Path(os.environ.get("ECUSTFD_DIR", REPO.parent / "shared" / "data" / "ecustfd"))

# A few items of several kinds: plain foods, a two-item class, the `egg002s` spelling, a mix item,
# and mix002, which holds one of the two photos without a coin.
MINI_ITEMS = ("apple001", "apple002", "apple003", "banana001", "banana002", "banana003",
              "grape001", "grape002", "egg002", "mix001", "mix002")  # fmt: skip


def _require_shared() -> Path:
    if not (SHARED_ECUSTFD / "Annotations").is_dir():
        pytest.skip(f"real ECUSTFD not found at {SHARED_ECUSTFD} (set ECUSTFD_DIR)")
    return SHARED_ECUSTFD


@pytest.fixture(scope="session")
def ecustfd_dir() -> Path:
    """The full real dataset (read-only)."""
    return _require_shared()


def copy_items(src: Path, dest: Path, items: tuple[str, ...]) -> Path:
    """Copy the photos and annotations of `items` (and density.xls) from `src` into `dest`."""
    for sub in ("Annotations", "JPEGImages"):
        (dest / sub).mkdir(parents=True)
        for path in (src / sub).iterdir():
            if any(path.name.lower().startswith(item) for item in items):
                shutil.copy2(path, dest / sub / path.name)
    shutil.copy2(src / "density.xls", dest / "density.xls")
    return dest


@pytest.fixture
def ecustfd_subset(tmp_path: Path):
    """A function copying the named real items into a fresh folder under tmp_path."""

    def make(*items: str) -> Path:
        return copy_items(_require_shared(), tmp_path / "subset", items)

    return make


@pytest.fixture
def mini_ecustfd(tmp_path: Path) -> Path:
    """A writable ECUSTFD-shaped copy of a handful of real items."""
    return copy_items(_require_shared(), tmp_path / "ecustfd", MINI_ITEMS)

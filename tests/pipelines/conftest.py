"""Fixtures of the pipeline tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def project_copy(repo_root: Path) -> Callable[[Path], Path]:
    """`project_copy(dest)`: the files git would see (tracked or not ignored) copied into `dest`, as a fresh git +
    DVC repository without data, models or reports."""

    def copy(dest: Path) -> Path:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=repo_root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split("\0")
        for rel in filter(None, listed):
            source = repo_root / rel
            kept_data = rel == "data/foods.yaml" or rel.startswith("data/recipes/")  # the hand-kept tables in git
            if (source.is_file() and not rel.startswith(("data/", "models/", "reports/"))) or kept_data:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / rel)
        subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
        return dest

    return copy

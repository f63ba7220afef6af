import subprocess

import pytest

from training.data.ecustfd_source import DatasetIncompleteError, SourceNotFoundError, fetch, is_git_url, verify


def count(root):
    return len(list((root / "JPEGImages").iterdir()))


def test_copies_and_verifies(mini_ecustfd, tmp_path):
    out = tmp_path / "raw"
    check = fetch(str(mini_ecustfd), out, rev="unused", expected_images=count(mini_ecustfd))
    assert check.n_images == check.n_annotations == count(out)
    assert (out / "density.xls").is_file()


def test_nonexistent_source_named(tmp_path):
    with pytest.raises(SourceNotFoundError, match=r"nowhere.*does not exist"):
        fetch(str(tmp_path / "nowhere"), tmp_path / "raw", rev="x", expected_images=1)


def test_missing_parts_are_all_named(mini_ecustfd):
    (mini_ecustfd / "density.xls").unlink()
    (mini_ecustfd / "JPEGImages" / "apple001S(1).JPG").unlink()
    with pytest.raises(DatasetIncompleteError, match=r"density\.xls is missing"):
        verify(mini_ecustfd, expected_images=1)
    (mini_ecustfd / "density.xls").write_bytes(b"x")
    with pytest.raises(DatasetIncompleteError, match=r"photos without.*|annotations without photo.*apple001S\(1\)"):
        verify(mini_ecustfd, expected_images=count(mini_ecustfd))


def test_wrong_count(mini_ecustfd):
    with pytest.raises(DatasetIncompleteError, match="2978 expected"):
        verify(mini_ecustfd, expected_images=2978)


def test_failed_fetch_keeps_previous_output(mini_ecustfd, tmp_path):
    out = tmp_path / "raw"
    fetch(str(mini_ecustfd), out, rev="x", expected_images=count(mini_ecustfd))
    before = sorted(p.name for p in (out / "JPEGImages").iterdir())
    with pytest.raises(DatasetIncompleteError):
        fetch(str(mini_ecustfd), out, rev="x", expected_images=count(mini_ecustfd) + 1)
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".raw")] == []


def test_git_source(mini_ecustfd, tmp_path):
    """The upstream path: a shallow fetch of one commit of a git repository (a local one here)."""
    repo = mini_ecustfd
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "data"], check=True)
    rev = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([*git, "config", "uploadpack.allowReachableSHA1InWant", "true"], check=True)
    out = tmp_path / "raw"
    url = f"file://{repo}"
    assert is_git_url(url)
    fetch(url, out, rev=rev, expected_images=count(repo))
    assert not (out / ".git").exists() and count(out) == count(repo)

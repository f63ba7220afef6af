import json

import pytest

from training.atomic import atomic_dir, atomic_file, write_json


def test_atomic_dir_replaces_on_success(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target) as scratch:
        (scratch / "new.txt").write_text("new")
        assert (target / "old.txt").exists()  # untouched until the block succeeds
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_keeps_old_on_failure(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as scratch:
        (scratch / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_file_and_json(tmp_path):
    target = tmp_path / "a" / "m.json"
    write_json(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    with pytest.raises(ValueError), atomic_file(target) as handle:
        handle.write("partial")
        raise ValueError("stop")
    assert json.loads(target.read_text())["b"] == 1
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]

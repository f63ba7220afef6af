"""The import direction: pipelines → training → nutrition, serving → training and nutrition; and the code a
registered model ships (training/inference/) imports nothing else of the repository."""

from __future__ import annotations

import pytest

# What each package may import of the repository's packages, besides itself.
ALLOWED = {"training": {"nutrition"}, "serving": {"training", "nutrition"}, "pipelines": {"training", "nutrition"}}
PACKAGES = {"bot", "nutrition", "pipelines", "serving", "training", "benchmarks", "tests"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_one_way(package, repo_root, module_imports):
    problems = [
        f"{path.relative_to(repo_root)} imports {name}"
        for path in sorted((repo_root / package).rglob("*.py"))
        for name in module_imports(path)
        if name.split(".")[0] in PACKAGES - {package} - ALLOWED[package]
    ]
    assert not problems, "\n".join(problems)


def test_the_shipped_inference_code_imports_only_itself(repo_root, module_imports):
    inference = repo_root / "training" / "inference"
    problems = [
        f"{path.relative_to(repo_root)} imports {name}"
        for path in sorted(inference.rglob("*.py"))
        for name in module_imports(path)
        if name.split(".")[0] in PACKAGES and not name.startswith("training.inference.")
    ]
    assert not problems, "\n".join(problems)

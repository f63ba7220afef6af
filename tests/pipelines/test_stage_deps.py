"""Every DVC stage lists in its `deps` each project module its command runs, so a change to that code re-runs it.

A stage's command is `python -m pipelines.<stage>`; the modules it runs are found by walking imports with `ast`
(at a module's top and inside functions; a package's `__init__.py` runs on any import from it), within the project
packages only. A module is covered by a dep naming its file or a folder above it. Without this, a change to
prediction code could leave committed metrics stale while `dvc status` says all is up to date.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]  # read at collection, to parametrize: a fixture comes too late
PROJECT_PACKAGES = ("training", "nutrition", "serving", "pipelines")
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
COMMAND = re.compile(r"^python -m (pipelines(?:\.\w+)+)(?:\s|$)")


def module_file(name: str) -> Path | None:
    """The file a project module is read from (`a/b.py` or `a/b/__init__.py`), or None outside the project."""
    parts = name.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:`, which never run."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imported_modules(path: Path, module: str) -> set[str]:
    """The modules `path` (module `module`) imports: `from a.b import c` is a.b, and a.b.c too when c is a module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if module_file(f"{base}.{alias.name}"))
    return names


@cache
def project_files(module: str) -> frozenset[str]:
    """Repository-relative paths of every project file that running `module` imports, itself included."""
    seen: set[str] = set()
    files: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py first
            prefix = ".".join(parts[:depth])
            if prefix in seen:
                continue
            seen.add(prefix)
            path = module_file(prefix)
            if path is not None:
                files.add(path.relative_to(REPO).as_posix())
                todo.extend(imported_modules(path, prefix))
    return frozenset(files)


def resolve(dep: str) -> str:
    """A dep with dvc.yaml's `${section.key}` templating filled in from params.yaml."""

    def value(match: re.Match) -> str:
        node = PARAMS
        for key in match.group(1).split("."):
            node = node[key]
        return str(node)

    return re.sub(r"\$\{\s*([\w.]+)\s*\}", value, dep)


def stage_deps(stage: dict) -> list[PurePosixPath]:
    return [PurePosixPath(resolve(d).rstrip("/")) for d in stage.get("deps", [])]


def uncovered(stage: dict) -> list[str]:
    """The project files `stage`'s command imports that none of its deps covers."""
    match = COMMAND.match(stage["cmd"])
    assert match, f"cmd {stage['cmd']!r} is not `python -m pipelines.<stage>`: this test cannot follow it"
    deps = stage_deps(stage)
    return sorted(f for f in project_files(match.group(1)) if not any(PurePosixPath(f).is_relative_to(d) for d in deps))


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_module_a_stage_runs_is_a_dependency(name):
    missing = uncovered(STAGES[name])
    assert not missing, f"dvc.yaml stage {name} runs these files but does not list them in deps: {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_code_dependency_exists(name):
    code = [d for d in stage_deps(STAGES[name]) if d.parts[0] in PROJECT_PACKAGES]
    assert all((REPO / d).exists() for d in code), f"stage {name} lists code that is not there: {code}"


def test_the_check_notices_a_removed_dependency():
    stage = STAGES["evaluate_portion"]
    dropped = "training/inference/portion_estimator.py"
    assert dropped in project_files("pipelines.evaluate_portion")  # imported inside main(), three modules deep
    assert uncovered({**stage, "deps": [d for d in stage["deps"] if d != dropped]}) == [dropped]


def test_imports_resolve_to_modules_or_their_packages():
    files = project_files("pipelines.evaluate_portion")
    assert "training/__init__.py" in files and "training/inference/__init__.py" in files
    assert "nutrition/__init__.py" in files and "nutrition/usda_table.py" in files  # `from nutrition import ...`
    assert not any(f.startswith("bot/") for f in files)

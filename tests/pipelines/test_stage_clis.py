"""Every DVC stage is a `python -m pipelines.<stage>` CLI with --help, mirrored by an MLproject entry point."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]  # read at collection, to parametrize: a fixture comes too late
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
ENTRY_POINTS = yaml.safe_load((REPO / "MLproject").read_text())["entry_points"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_is_a_cli_with_help_and_an_entry_point(stage):
    command = f"python -m pipelines.{stage}"
    assert STAGES[stage]["cmd"] == command
    assert ENTRY_POINTS[stage]["command"].split(" --")[0] == command  # an entry point may pass options on
    result = CliRunner().invoke(importlib.import_module(f"pipelines.{stage}").app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_no_entry_point_without_a_stage():
    assert set(ENTRY_POINTS) - {"main"} <= set(STAGES)

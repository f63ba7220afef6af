# Two entry points for people: `make run` (the pipeline on embedded defaults) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11

# Stage commands say `python`: make it the project's.
export PATH := $(abspath $(VENV))/bin:$(PATH)
export VIRTUAL_ENV := $(abspath $(VENV))

# Keep every tool off the network and out of the home directory.
export DVC_NO_ANALYTICS := 1
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := false
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv run test test-fast lint format clean-venv

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all]'
	@touch $@

venv: $(VENV)/.installed

run: venv
	$(VENV)/bin/dvc repro
	@echo
	@echo "Results:"
	@echo "  data summary      reports/data/summary.json"
	@echo "  nutrition tables  data/nutrition/"
	@$(VENV)/bin/dvc metrics show 2>/dev/null || true
	$(PY) -m serving.import_models
	$(PY) -m serving.try_server --then '$(PY) -m bot.devtools.demo {photos}'

test: venv
	$(PY) -m pytest -ra

test-fast: venv
	$(PY) -m pytest -ra -m 'not slow'

# ruff, configured in pyproject.toml; CI runs `make lint` before the tests.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)

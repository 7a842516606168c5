# slacklab — every set-up step is here, so two commands are all a newcomer needs:
#   make demo   offline demo: simulated Slack → listener → DataFrame → CSV + chart
#   make test   the whole test suite (what CI runs)
# Both create ./.venv on first use with the Python found as $(PYTHON) (3.11 or newer).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint lab bench samples wheelhouse clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "slacklab needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m slacklab demo

test: lint
	MPLBACKEND=Agg $(PY) -m pytest

# The habits: lint and formatting (ruff) and types (mypy; strict on the pure core). Part of `make test`.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/00-tour.ipynb

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/run_all.py

samples: $(STAMP)
	$(PY) data/make_samples.py

wheelhouse: $(PY)
	$(PY) -m pip download --dest wheelhouse '.[notebook]' setuptools pip

clean:
	rm -rf $(VENV) slacklab-out test-artifacts .pytest_cache

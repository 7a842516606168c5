# slacklab — every set-up step is here, so two commands are all a newcomer needs:
#   make demo   offline demo: simulated Slack → listener → DataFrame → CSV + chart
#   make test   the whole test suite (what CI runs)
# Both create ./.venv on first use with the Python found as $(PYTHON) (3.11 or newer).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint lab hooks bench samples wheelhouse clean

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

# JupyterLab without its news and update pop-ups (installation defaults: overrides.json), and with
# notebook outputs kept out of git (`make hooks`).
lab: $(STAMP) hooks
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp notebooks/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(VENV)/bin/jupyter lab notebooks/00-tour.ipynb

# The clean filter .gitattributes names: `git add` stages notebooks without outputs, execution counts,
# widget state or the Python version (nbstripout; cell ids kept). Local to this clone; a fresh clone
# or CI does not need it. Undo: git config --remove-section filter.nbstripout
NBSTRIP = '$(abspath $(PY))' -m nbstripout --keep-id --extra-keys 'metadata.language_info.version metadata.widgets'
hooks:
	git config filter.nbstripout.clean "$(NBSTRIP)"
	git config filter.nbstripout.smudge cat
	git config diff.ipynb.textconv "$(NBSTRIP) -t"

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/run_all.py

samples: $(STAMP)
	$(PY) data/make_samples.py

wheelhouse: $(PY)
	$(PY) -m pip download --dest wheelhouse '.[notebook]' setuptools pip

clean:
	rm -rf $(VENV) slacklab-out test-artifacts .pytest_cache

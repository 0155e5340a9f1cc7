# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine:
# they create .venv and install the project with its dev extras on first use.

VENV ?= .venv
PY := $(VENV)/bin/python
FS := $(VENV)/bin/featurestore
PYTHON ?= python3

.PHONY: install demo test lint typecheck pytest install-check bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(PY) definitions/_generate.py --root .
	$(FS) apply
	$(FS) validate
	$(FS) training-set --entities data/entity_rows.parquet --features driver_ranking_v1
	$(FS) training-set --entities data/entity_rows.parquet --features driver_ranking_v1 --out data/training_set.parquet --profile data/training_profile.json
	$(FS) training-set --entities data/entity_rows.parquet --features payment_risk_v1
	$(FS) materialize --end now
	$(FS) stats driver_hourly_stats
	$(FS) drift --reference data/training_profile.json --current driver_hourly_stats --threshold ks=0.15
	$(FS) get-online --features driver_ranking_v1 --entity driver_id=1001,customer_id=5001 --entity driver_id=1002,customer_id=5002
	$(FS) get-online --features payment_risk_v1 --entity customer_id=5001 --entity customer_id=5002
	$(FS) verify --sample 0

lint: install
	$(VENV)/bin/ruff check featurestore tests benchmarks definitions
	$(VENV)/bin/ruff format --check featurestore

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(VENV)/bin/pytest -q -m "not slow"

test: lint typecheck pytest

# `pip install featurestore` alone runs the quickstart, and the `server` extra serves it: both in fresh
# virtualenvs built from the wheel (about a minute with a warm pip cache).
install-check: install
	$(VENV)/bin/pytest -q -m slow tests/e2e/test_minimal_install.py

bench: install
	$(PY) benchmarks/training_set.py

clean:
	rm -rf .featurestore data .pytest_cache .mypy_cache .ruff_cache

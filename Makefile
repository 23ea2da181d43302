# Everything a fresh machine needs: `make test` and `make demo` build their own virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test test-quick lint typecheck provider-info demo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The whole suite: lint, type check, every test (including the real-Airflow deployment tests).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The developer loop: the same without the slow deployment tests (deselected, not skipped).
test-quick: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not airflow_e2e" $(PYTEST_ARGS)

typecheck: $(STAMP)
	$(BIN)/mypy

# Regenerate the connection forms Airflow reads (after changing a hook's settings model).
provider-info: $(STAMP)
	$(BIN)/python -m airflow_provider_genai_batch.connection_forms

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: $(STAMP)
	bash scripts/demo.sh

clean:
	rm -rf $(VENV) .demo .pytest_cache

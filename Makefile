# Everything a fresh machine needs: `make test` and `make demo` build their own virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv deployment-deps test test-quick lint typecheck provider-info demo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The servers the distributed-deployment tests start (tests/deployment): PostgreSQL, Redis, and the Chromium
# the browser tests drive. Missing ones are installed with apt when root (or password-less sudo) is available;
# without either, Chromium comes from Playwright's own download and PostgreSQL/Redis must be installed by hand.
deployment-deps: $(STAMP)
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then as_root=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root="sudo"; \
	elif [ "$$missing" = " chromium" ]; then $(BIN)/playwright install chromium; exit $$?; \
	else echo "missing:$$missing (install them, e.g. apt-get install$$missing, then run make again)" >&2; exit 1; fi; \
	echo "installing$$missing"; \
	$$as_root apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$as_root apt-get install -y -qq --no-install-recommends $$missing

# Tests that start no Airflow deployment run on every core (pytest-xdist; a test file stays on one worker, so its
# module's servers start once); then the deployment tests, which start Airflow's own processes, one at a time.
NOT_DEPLOYMENT := not airflow_e2e and not airflow_deployment
PARALLEL := -n auto --dist loadfile

# The whole suite: lint, type check, every test (including both real-Airflow deployments and the browser).
test: $(STAMP) deployment-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PARALLEL) -m "$(NOT_DEPLOYMENT)" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m "not ($(NOT_DEPLOYMENT))" $(PYTEST_ARGS)

# The developer loop: the same without the slow deployment tests (deselected, not skipped).
test-quick: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PARALLEL) -m "$(NOT_DEPLOYMENT)" $(PYTEST_ARGS)

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

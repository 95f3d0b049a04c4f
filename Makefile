# Partner Escrow: `make run` serves on the embedded defaults; `make test` runs the whole suite.
# The first interpreter that actually runs and is 3.11 or 3.12 (pyenv shims may exist but fail).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
  $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null \
  && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= $(or $(ESCROW_DATA_DIR),./.escrow)
PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: run test lint typecheck check postgres clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required (oso has no newer wheels)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@mkdir -p $(DATA_DIR)
	$(BIN)/escrow db upgrade
	@if [ ! -f $(DATA_DIR)/.bootstrapped ]; then \
	  echo "First start: bootstrap operator credential (shown once; store it now):"; \
	  $(BIN)/escrow bootstrap --json && touch $(DATA_DIR)/.bootstrapped; \
	fi
	$(BIN)/escrow serve --migrate

# Start the machine's PostgreSQL if it is not answering; each test run makes its own database.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -n 1) main start; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	  pg_isready -h 127.0.0.1 -p 5432; }

test: $(STAMP) postgres
	ESCROW_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

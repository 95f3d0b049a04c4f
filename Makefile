# Partner Escrow: `make run` serves on the embedded defaults; `make test` runs the whole suite.
# The first interpreter that actually runs and is 3.11 or 3.12 (pyenv shims may exist but fail).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
  $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null \
  && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` needs the runtime dependencies only; the test and lint tools
# (`.[dev]`) come with `make test`, `make lint` and `make typecheck`.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= $(or $(ESCROW_DATA_DIR),./.escrow)
PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: run test fuzz load throughput lint typecheck check postgres softhsm clean demo

$(RUNTIME_STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required (oso has no newer wheels)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(RUNTIME_STAMP)
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

# SoftHSM2, the PKCS#11 token the key-manager tests run against (README: Key managers).
# Installed from the distribution when missing; `make test` needs it.
SOFTHSM_MODULE ?= /usr/lib/softhsm/libsofthsm2.so
softhsm:
	@if ! command -v softhsm2-util >/dev/null 2>&1 || [ ! -f $(SOFTHSM_MODULE) ]; then \
	  echo "installing SoftHSM2"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2; \
	fi
	@test -f $(SOFTHSM_MODULE) || { echo "SoftHSM2's module $(SOFTHSM_MODULE) is missing"; exit 1; }

# The suite on TEST_WORKERS processes (default 2: this machine's cores); each test file runs
# whole on one of them, so module fixtures (a live server, three replicas) start once.
TEST_WORKERS ?= 2
test: $(STAMP) postgres softhsm
	ESCROW_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The schema fuzzer of `make test` (tests/fuzz) with many examples per operation, fresh
# ones on every run (`make test` repeats the same draw), and no per-test timeout;
# FUZZ_EXAMPLES=N to change the count.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP) postgres
	ESCROW_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) ESCROW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  ESCROW_HYPOTHESIS=explore $(BIN)/pytest tests/fuzz -p no:cacheprovider --timeout=0

# Sustained load (benchmarks/load.py): a throwaway database, moto as the S3 server and
# LOAD_REPLICAS API processes; LOAD_CLIENTS partner clients for LOAD_SECONDS, then every
# digest and the whole audit log checked. Exits non-zero on any error or mismatch.
LOAD_CLIENTS ?= 32
LOAD_SECONDS ?= 60
LOAD_REPLICAS ?= 2
load: $(STAMP) postgres
	ESCROW_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) $(BIN)/python benchmarks/load.py \
	  --clients $(LOAD_CLIENTS) --seconds $(LOAD_SECONDS) --replicas $(LOAD_REPLICAS)

# Audited requests/s of `escrow serve --workers 2` under wrk, against a bare litestar app in the
# same run (benchmarks/throughput.py); installs wrk from the distribution when missing.
THROUGHPUT_SECONDS ?= 20
THROUGHPUT_ROUNDS ?= 3
throughput: $(STAMP) postgres
	@command -v wrk >/dev/null 2>&1 || { echo "installing wrk"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	ESCROW_TEST_PG_ADMIN_URL=$(PG_ADMIN_URL) PYTHONPATH=. $(BIN)/python benchmarks/throughput.py \
	  --seconds $(THROUGHPUT_SECONDS) --rounds $(THROUGHPUT_ROUNDS)

# Style, and the architecture's import rules (import-linter contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# A whole escrow against the server of `make run`, with an operator profile made by
# `escrow login ... --profile operator`; PROFILE=name picks it (default: the default profile).
demo: $(RUNTIME_STAMP)
	$(BIN)/escrow demo $(if $(PROFILE),--profile $(PROFILE))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

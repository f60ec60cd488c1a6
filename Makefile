# Every target installs what it needs: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test test-slow fuzz lint format bench system-deps venv clean

$(STAMP): pyproject.toml
	@./scripts/ensure-system-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@./scripts/ensure-system-deps.sh

## demo: the whole chain (broker, hub, simulated terminals, edges, mock e-Kinerja), a week in a few minutes
DEMO_ARGS ?=
demo: $(STAMP) system-deps
	$(BIN)/presensi demo $(DEMO_ARGS)

## test: lint, then the default test suite (slow soak/benchmark runs excluded); the dashboard's browser
## tests need Debian's chromium, installed here when missing
test: $(STAMP) system-deps lint
	@./scripts/ensure-system-deps.sh chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-slow: the long runs excluded from `make test`
test-slow: $(STAMP) system-deps
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

## fuzz: the fuzz tests (tests/fuzz/) with PRESENSI_FUZZ_SCALE times their default examples (default 20)
PRESENSI_FUZZ_SCALE ?= 20
fuzz: $(STAMP) system-deps
	PRESENSI_FUZZ_SCALE=$(PRESENSI_FUZZ_SCALE) $(BIN)/python -m pytest tests/fuzz $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: measured figures, written to docs/benchmarks.md
bench: $(STAMP) system-deps
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts

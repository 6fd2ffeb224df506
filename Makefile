# Two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check bench services clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the gateway on the embedded standalone default (mock provider, no network, no key needed)
run: $(STAMP)
	$(BIN)/llmux serve

## test: the whole suite; starts local Postgres/Redis/NATS first when they are installed but down
test: $(STAMP)
	-bash deploy/dev-services.sh
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

## check: lint and strict type checks
check: $(STAMP)
	$(BIN)/ruff check schemas router_engine ingress ledger projections tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: the side-by-side benchmark (slow; never part of `make test`); uses Debian's wrk when it can
bench: $(STAMP)
	-command -v wrk >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1)
	$(BIN)/python -m bench --install-litellm $(BENCH_ARGS)

services:
	bash deploy/dev-services.sh

clean:
	rm -rf $(VENV) .llmux .pytest_cache .mypy_cache .ruff_cache

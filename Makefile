PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-fast lint typecheck bench clean services tools e2e

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/dqx demo

# tests/e2e_real needs the services and tools below: `make e2e` runs it.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --ignore=tests/e2e_real

# The same without the tests marked slow (Spark, several processes, whole CLI runs,
# the bench smoke): a quick loop while editing. `make test` and CI run them all.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --ignore=tests/e2e_real -m "not slow"

# PostgreSQL on 127.0.0.1:5432 (user postgres, database test, no password from
# loopback): installed from Debian's packages if missing, started, waited for.
services:
	bash tools/services.sh

# Debian's Chromium, for the HTML report's browser test (tests/e2e/test_report_browser.py):
# installed from Debian's packages if missing; quick when it is there.
.PHONY: browser
browser:
	bash tools/chromium.sh

# Jaeger v2 and the minimal OpenTelemetry Collector, built once per version into
# ~/.cache/dqx-tools (or $XDG_CACHE_HOME/dqx-tools), pinned by tools/go.mod.
tools:
	bash tools/build.sh all

# The real programs end to end: the collector running otel-collector.yaml, Jaeger,
# PostgreSQL (`make services` first). Builds the tools when they are not cached.
e2e: $(STAMP)
	DQX_JAEGER_BIN="$$(bash tools/build.sh jaeger)" && \
	DQX_OTELCOL_BIN="$$(bash tools/build.sh otelcol-dqx)" && \
	export DQX_JAEGER_BIN DQX_OTELCOL_BIN && \
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e_real

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	rm -f $(VENV)/.bench-installed-*
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python bench/anomaly.py
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

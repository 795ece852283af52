PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-fast lint typecheck bench clean services tools e2e test-integrations

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/dqx demo

# tests/e2e_real needs the services and tools below: `make e2e` runs it. The
# orchestrator tests need their own virtualenvs: `make test-integrations` runs them.
IGNORED := --ignore=tests/e2e_real --ignore=tests/integrations

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(IGNORED)

# The same without the tests marked slow (Spark, several processes, whole CLI runs,
# the bench smoke): a quick loop while editing. `make test` and CI run them all.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(IGNORED) -m "not slow"

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

# Airflow and Dagster, each in a virtualenv of its own (.venv-airflow, .venv-dagster):
# dqx with the orchestrator's extra and pytest, under the tested set of versions in
# tests/integrations/constraints-*.txt; rebuilt when pyproject.toml or that file changes.
# --confcutdir keeps tests/conftest.py (which needs the test extra) out. A run that
# collects no test exits 5, which fails the target.
INTEGRATIONS := airflow dagster
integration_stamp = .venv-$(1)/.installed-$(shell cat pyproject.toml tests/integrations/constraints-$(1).txt | cksum | cut -d' ' -f1)

define integration_venv
$(call integration_stamp,$(1)): pyproject.toml tests/integrations/constraints-$(1).txt
	test -x .venv-$(1)/bin/python || $(PYTHON) -m venv .venv-$(1)
	.venv-$(1)/bin/python -m pip install --quiet --upgrade pip
	.venv-$(1)/bin/python -m pip install --quiet -e '.[$(1)]' pytest \
		-c tests/integrations/constraints-$(1).txt
	rm -f .venv-$(1)/.installed-*
	touch $$@
endef
$(foreach tool,$(INTEGRATIONS),$(eval $(call integration_venv,$(tool))))

test-integrations: $(foreach tool,$(INTEGRATIONS),$(call integration_stamp,$(tool)))
	set -e; for tool in $(INTEGRATIONS); do \
		echo "== $$tool"; \
		.venv-$$tool/bin/python -m pytest -q -p no:cacheprovider \
			--confcutdir=tests/integrations tests/integrations/test_$$tool.py; \
	done

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
	rm -rf $(VENV) .venv-airflow .venv-dagster .pytest_cache .mypy_cache .ruff_cache

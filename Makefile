# The README's two commands call `make demo` and `make test`; both set up what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the tests use for real; add one name here and `make test` installs it when missing.
APT_PACKAGES := prometheus prometheus-alertmanager chromium docker-compose fonts-noto-cjk redis-server clickhouse-server
PYTEST_ARGS ?=

.PHONY: setup system-deps demo serve test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py $(wildcard ai_usage_monitor/budgets/*.c) | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# Installs only the packages of APT_PACKAGES that are missing, and never upgrades one that is installed
# (Prometheus, Alertmanager, promtool, Chromium, docker-compose, a CJK font for the zh screenshots).
system-deps:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "installing the missing Debian packages:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	$$SUDO apt-get update -q && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends --no-upgrade $$missing

demo: setup
	$(BIN)/ai-usage-monitor demo

serve: setup
	$(BIN)/ai-usage-monitor serve

lint: setup
	$(BIN)/ruff check ai_usage_monitor tests benchmarks
	$(BIN)/ruff format --check ai_usage_monitor tests benchmarks

typecheck: setup
	$(BIN)/mypy

test: setup system-deps lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/store.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache test-artifacts

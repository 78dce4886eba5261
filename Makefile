# The README's two commands call `make demo` and `make test`; both set up what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APT_PACKAGES := prometheus prometheus-alertmanager chromium docker-compose
PYTEST_ARGS ?=

.PHONY: setup system-deps demo serve test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# Debian packages the tests use for real: Prometheus, Alertmanager, promtool, Chromium, docker-compose.
system-deps:
	@missing=""; \
	for cmd in prometheus promtool prometheus-alertmanager chromium docker-compose; do \
	  command -v $$cmd >/dev/null 2>&1 || missing="yes"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(APT_PACKAGES); \
	fi

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

# The two commands: `make run` (the site, embedded defaults) and `make test` (real services + lint + pytest).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help venv run services services-down services-status lint test bench lock clean

help:
	@echo "make run       - the site on http://$(HOST):$(PORT) with demo content (SQLite, a Celery worker on a SQLite broker)"
	@echo "make test      - install and start PostgreSQL, Redis, Elasticsearch; lint; pytest with a Celery worker"
	@echo "make lint      - ruff, mypy, import contracts, manage.py check, makemigrations --check, pip-audit of the pins"
	@echo "make bench     - benchmarks, writing JSON under bench-results/ (BENCH=\"retrieval rag\" for some)"
	@echo "make services  - start the real services (scripts/services.sh up); services-down / services-status"

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/llm.sh
	@echo "[venv] installing pinned requirements into $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	bash scripts/llm.sh $(VENV)
	touch $@

venv: $(VENV)/.installed

run: venv
	$(BIN)/python scripts/run.py --host $(HOST) --port $(PORT)

services:
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

services-status:
	bash scripts/services.sh status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	DJANGO_SETTINGS_MODULE=datacollection.settings.dev $(BIN)/python manage.py check
	DJANGO_SETTINGS_MODULE=datacollection.settings.dev $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python scripts/audit.py

test: services venv lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: services venv
	mkdir -p bench-results
	$(BIN)/python -m benchmarks $(BENCH)

lock: venv
	$(BIN)/python scripts/lock.py

clean:
	rm -rf var/ artifacts/ bench-results/ static_collected/

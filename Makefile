# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Python 3.12 as named by .python-version (pyenv), else whatever python3.12 is on PATH.
BASE_PYTHON ?= $(shell (command -v pyenv >/dev/null 2>&1 && pyenv which python 2>/dev/null) || command -v python3.12)
SHARED_DATA := ../shared/data
DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run serve import index test test-fast lint format migrations-check ci clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(BASE_PYTHON)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) and retry"; exit 1; }
	@$(BASE_PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' || { echo "$(BASE_PYTHON) is not Python 3.12"; exit 1; }
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q --upgrade pip
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
	mkdir -p var
	$(PY) manage.py migrate --noinput

import: setup
	@if [ -z "$(DATA)" ]; then \
		echo "No catalogue data: pass a folder, e.g. make run DATA=/path/to/data (the files of ../shared/data)"; exit 2; \
	fi
	$(PY) manage.py import_anime $(DATA)

index: setup
	$(PY) manage.py build_index

run: import index serve

serve: setup
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(VENV)/.installed
	$(PY) manage.py makemigrations --check --dry-run

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache

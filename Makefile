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

.PHONY: setup run serve import index model test screenshots lint format migrations-check ci clean

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

# The catalogue: the files of $(DATA), or (none) a crawl of Jikan's popular anime to start with.
IMPORT := $(if $(DATA),SEARCH_AUTO_INDEX=0 $(PY) manage.py import_anime $(DATA),SEARCH_AUTO_INDEX=0 $(PY) manage.py crawl jikan --min-members 100000)

import: setup
	@$(if $(DATA),,echo "No DATA folder (and no ../shared/data): crawling Jikan for the anime with >= 100,000 members (about 100 list pages at <= 60 requests/min: a few minutes; pass DATA=<folder> to import files instead)";)
	$(IMPORT)

index: setup
	$(PY) manage.py build_index

model: setup
	$(PY) manage.py train_classifier --if-none-active

# `make run` serves as soon as the database is migrated. The catalogue import (the whole shared
# catalogue: ~25 s), the search index and the evaluator's model are made meanwhile by a
# background process of its own (log: var/background.log), in that order: the pages fill in
# during the import and say how far it is; until the index switches in, search answers from the
# keyword fallback and says how far the build is; a first build puts the popular slice live first
# (about 2,300 anime), then the whole catalogue as the next generation (the
# search page and /readyz say which is live); until the model is in, the evaluate page says it
# is being trained. Stopping the server stops that process too.
run: setup
	@echo "Catalogue import, search index and model: in the background, log in var/background.log"
	@setsid sh -c '$(IMPORT) && $(PY) manage.py build_index --wait && $(PY) manage.py train_classifier --if-none-active --wait' \
		> var/background.log 2>&1 & \
	background=$$!; \
	trap 'kill -TERM -- -$$background 2>/dev/null' EXIT; \
	$(PY) manage.py runserver $(HOST):$(PORT)

serve: setup
	$(PY) manage.py runserver $(HOST):$(PORT)

# Two test workers (pytest-xdist; `make test TEST_WORKERS=0` runs in one process). `--dist load`
# hands each worker its tests in collection order, which pytest-django makes database tests first and
# transactional ones (which flush the database) last; work stealing would run some after a flush.
TEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist load)

# The README's pictures (docs/screenshots/), taken by the browser tests of every page; a plain test
# run keeps its screenshots in test-artifacts/ and leaves the repository as it was.
screenshots: $(VENV)/.installed
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest animesite/tests/test_browser_pages.py

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

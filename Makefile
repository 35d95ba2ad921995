# The two commands a new user types: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell sha1sum requirements.txt | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)
# The PostgreSQL pass of `make test`; override to use another server or database name.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/broker
PYTEST_ARGS ?=

.PHONY: install run lint test test-fast test-sqlite test-postgres system-deps bench fuzz conformance-doc clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py runbroker

system-deps:
	bash scripts/system-deps.sh

# The layers (import-linter) and ruff's rules, both configured in pyproject.toml.
lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .

test: install system-deps lint test-sqlite test-postgres

# The quick loop while editing: SQLite only, without the tests marked slow (real workers, subprocess listeners,
# timeouts, large feeds). `make test` still runs everything on both databases.
test-fast: install
	env -u DATABASE_URL $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The browser tests run in a pytest process of their own: Playwright's sync API drives Chromium through greenlet,
# and a greenlet left for the garbage collector crashed a later listener test once (a segfault in the PostgreSQL
# pass, in tests/mpps, during a collection). Apart, neither can take the other down. (Exit 5: none selected.)
test-sqlite: install
	env -u DATABASE_URL $(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	env -u DATABASE_URL $(BIN)/python -m pytest -m browser $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-postgres: install
	@if $(BIN)/python scripts/pg_ready.py "$(TEST_DATABASE_URL)"; then \
		{ DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS) || [ $$? -eq 5 ]; } && \
		{ DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/python -m pytest -m browser $(PYTEST_ARGS) || [ $$? -eq 5 ]; }; \
	elif [ "$$BROKER_TEST_REQUIRE_SERVICES" = "1" ]; then \
		echo "PostgreSQL at $(TEST_DATABASE_URL) is not reachable"; exit 1; \
	else \
		echo "PostgreSQL pass skipped: no server at $(TEST_DATABASE_URL) (set TEST_DATABASE_URL)"; \
	fi

# The fuzzing campaign is not a benchmark: it fails on findings, so `make fuzz` runs it on its own.
bench: install
	for b in $(filter-out bench/fuzz.py,$(wildcard bench/*.py)); do $(BIN)/python $$b || exit 1; done

# The full fuzzing campaign (~15 min); rewrites docs/robustness.md. FUZZ_ARGS=--cases 2000 for a shorter one.
FUZZ_ARGS ?=
fuzz: install
	env -u DATABASE_URL $(BIN)/python bench/fuzz.py --report docs/robustness.md $(FUZZ_ARGS)

# docs/conformance.md: the DICOM Conformance Statement of the default configuration (no BROKER_* variables set).
conformance-doc: install
	env -i PATH="$$PATH" HOME="$$HOME" $(BIN)/python manage.py conformance-statement --output docs/conformance.md

clean:
	rm -rf $(VENV) var

# The README's two commands: `make demo` and `make test`. Both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint bench install

$(STAMP): pyproject.toml
	@scripts/system-deps
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/portal demo

# Branch coverage of the core and the portal is printed (files not fully covered, and the total);
# there is no threshold to game. Two workers (pytest-xdist), a test file each at a time: every
# test has its own SQLite file, and each worker its own PostgreSQL database (tests/conftest.py).
PYTEST_WORKERS ?= -n 2 --dist loadfile
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest --cov=payments --cov=portal --cov-branch --cov-report=term:skip-covered \
		$(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	@scripts/system-deps --bench
	$(PY) bench/pages.py

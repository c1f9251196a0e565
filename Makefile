# One entry point for users and CI. `make test` and `make demo` install what they need.
SHELL := /bin/bash
VENV ?= .venv
# Venus OS runs the system python with dbus/gi from the OS; mirror that: prefer /usr/bin/python3
# and let the venv see system site-packages (python3-dbus, python3-gi).
SYSPY := $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Test files run in this many worker processes (one file stays on one worker: its broker and
# module fixtures are shared within it). 0 runs everything in one process, as before.
PYTEST_WORKERS ?= 3

.PHONY: install install-dev system-deps test test-unit test-pymodbus-low lint format type-check \
        bench bench-32bit bench-control velib-parity velib-parity-vendored demo soak clean help

help:
	@echo "make demo   - run the whole system against the simulator (open the printed URL)"
	@echo "make test   - install what is needed, lint, type-check and run every test"
	@echo "make bench  - print speed/memory figures;  make bench-control - judge the controller"

$(STAMP): pyproject.toml
	@bash scripts/make-venv.sh $(SYSPY) $(VENV)
	@bash scripts/pip-quiet.sh $(PY) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)
install-dev: $(STAMP)

# Debian packages the tests use for real: the broker, the D-Bus bindings, a browser, shellcheck.
system-deps:
	@bash scripts/system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

type-check: $(STAMP)
	$(VENV)/bin/mypy

test-unit: $(STAMP)
	$(PY) -m pytest -q --durations=15 -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The lowest pymodbus we claim has the older server datastore shape: run the Modbus tests on it too.
test-pymodbus-low: $(STAMP)
	@bash scripts/test-pymodbus-low.sh

test: system-deps $(STAMP) lint type-check test-unit test-pymodbus-low velib-parity-vendored

bench: $(STAMP) system-deps
	$(PY) -m bench

# The bridge and the shim in a Debian i386 root: the pointer width of a GX's armv7 userland (root).
bench-32bit: $(STAMP) system-deps
	@bash scripts/bench-32bit.sh

bench-control: $(STAMP)
	$(PY) -m bench.control

# The D-Bus tests on Victron's own vedbus instead of ours (VELIB_PYTHON=a velib_python checkout,
# e.g. a clone of github.com/victronenergy/velib_python, or the copy on a GX). Skips are failures.
# VELIB_VENDOR: an unmodified copy kept next to the checkout (never copied into the project).
VELIB_VENDOR ?= $(abspath $(CURDIR)/../shared/vendor/velib_python)
VELIB_PYTHON ?= $(VELIB_VENDOR)
velib-parity: $(STAMP) system-deps
	@test -f "$(VELIB_PYTHON)/vedbus.py" || { echo "set VELIB_PYTHON to a directory holding vedbus.py"; exit 2; }
	ALFEN_REQUIRE_VELIB=1 VELIB_PYTHON="$(abspath $(VELIB_PYTHON))" $(PY) -m pytest -q -p no:cacheprovider \
	  tests/test_dbus_busitem.py tests/test_dbus_shim.py tests/test_dbus_settings.py tests/test_dbus_e2e.py

# `make test` runs the parity run when the vendored copy is there, and says so when it is not.
velib-parity-vendored:
	@if [ -f "$(VELIB_VENDOR)/vedbus.py" ]; then \
	  $(MAKE) --no-print-directory velib-parity VELIB_PYTHON="$(VELIB_VENDOR)"; \
	else \
	  echo "velib parity: skipped, no velib_python at $(VELIB_VENDOR) (make velib-parity VELIB_PYTHON=DIR runs it on another copy)"; \
	fi

# The demo needs only the runtime dependencies (no test tools, no browser, no system packages).
# Nothing but the demo's summary on the first screen: make echoes no command, pip logs to a file.
DEMO_STAMP := $(VENV)/.installed-demo
DEMO_ARGS ?=
$(DEMO_STAMP): pyproject.toml
	@bash scripts/make-venv.sh $(SYSPY) $(VENV)
	@bash scripts/pip-quiet.sh $(PY) -e .
	@touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	@$(PY) -m demo $(DEMO_ARGS)

soak: $(STAMP) system-deps
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

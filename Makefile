# The two commands: `make run` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

.PHONY: run test bench calibrate clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

# The demo organisation lives in its own file (data/demo.duckdb); the app opens the
# organisation's database (data/playbook_impact.duckdb) when it holds data, else the demo.
run: $(STAMP)
	$(BIN)/python -m analysis init --demo
	$(BIN)/streamlit run app.py

test: $(STAMP)
	$(BIN)/python -m pytest

# The browser's timings (first screen, every page) need Debian's chromium; skipped without it.
bench: $(STAMP)
	$(BIN)/python -m bench
	@if [ -x /usr/bin/chromium ]; then $(BIN)/python -m bench.browser; \
	else echo "bench.browser skipped: /usr/bin/chromium is not installed"; fi

# How often each verdict is wrong when nothing works, and the power for planted effects:
# simulated organisations, >= 200 replicates per world, writes CALIBRATION.md (~10 minutes).
calibrate: $(STAMP)
	$(BIN)/python -m bench.calibrate

clean:
	rm -rf $(VENV) .pytest_cache

# Two commands on a fresh machine (Python 3.11+ with venv and pip, gcc and the Python headers):
#   make demo   installs what is needed and runs the main job on embedded defaults
#   make test   installs what is needed and runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml src/lendguard/fraud/windows.pyx  # the .pyx: the compiled window kernel is rebuilt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lendguard demo

test: $(STAMP)
	bash scripts/ensure-browser.sh
	LENDGUARD_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python benchmarks/visibility.py

clean:
	rm -rf $(VENV) lendguard-data

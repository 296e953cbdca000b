# nmflab: two commands on a fresh machine.
#   make demo   the seed demonstration (creates .venv, installs nmflab[plot])
#   make test   the test suite       (creates .venv, installs nmflab[test])
# Both set themselves up; nothing else needs installing first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PYTEST_ARGS ?=

.PHONY: demo test test-slow bench paper paper-quick clean help

help:
	@echo "make demo       run the seed demonstration (figures in out/demo/)"
	@echo "make test       run the test suite (about 8 minutes on 2 cores)"
	@echo "make test-slow  the test suite with the slow tests too"
	@echo "make bench      the race against the installed peers and the dense MU benchmark (~3 GB)"
	@echo "make paper      every experiment (full, about 1.5 hours), figures, paper/build/paper.html (+ .pdf with pandoc and LaTeX)"
	@echo "make paper-quick the same from --quick experiments (about two minutes), in out/paper-quick/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# One stamp per set of extras: reinstall when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[$*]"
	@touch $@

demo: $(VENV)/.installed-plot
	$(BIN)/nmflab demo
	$(BIN)/nmflab demo --reference

# pytest exits 5 when it collects no test (e.g. a -k filter that matches
# nothing): that is said loudly and not counted as a failure. make itself
# would turn any non-zero code into 2, so the mapping happens here.
test: $(VENV)/.installed-test
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); nothing was checked"; rc=0; fi; \
	exit $$rc

test-slow: PYTEST_ARGS += --runslow
test-slow: test

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.race
	$(BIN)/python -m benchmarks.mu_dense

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis *.egg-info

# The paper: experiments (full; the long ones resume), the benchmark race, figures, numbers, HTML/PDF.
paper: $(VENV)/.installed-paper
	$(BIN)/python -m benchmarks.race --out results/bench
	$(BIN)/python -m paper.make

paper-quick: $(VENV)/.installed-paper
	$(BIN)/python -m paper.make --quick --results out/paper-quick/results --out out/paper-quick

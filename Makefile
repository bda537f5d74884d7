# rankdet: the README's two commands, `make demo` and `make test`, set up first.
PYTHON := .venv/bin/python

.PHONY: setup test demo

setup:
	@bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest tests -q

demo: setup
	$(PYTHON) tools/demo.py

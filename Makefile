# rankdet: the README's commands (`make demo`, `make test`, `make evidence`,
# `make ablation`, and `make gpu-check` on a machine with an NVIDIA GPU), each after the
# set-up.
PYTHON := .venv/bin/python

.PHONY: setup test demo evidence ablation gpu-check

setup:
	@bash tools/setup_env.sh

# flake8 first (its settings: setup.cfg's [flake8] section), then the test suite
test: setup
	$(PYTHON) -m flake8
	$(PYTHON) -m pytest tests -q

demo: setup
	$(PYTHON) tools/demo.py

evidence: setup
	$(PYTHON) tools/compare.py evidence

ablation: setup
	$(PYTHON) tools/compare.py ablation

gpu-check: setup
	$(PYTHON) tools/gpu_check.py

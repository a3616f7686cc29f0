# The two set-up commands of the README.  Each installs what it needs first.
PY ?= .venv/bin/python
DII ?= .venv/bin/dii-hpc

.PHONY: quickstart test lint bench

quickstart:
	bash scripts/install.sh
	$(DII) quickstart

test:
	bash scripts/install.sh --test
	bash scripts/slurm-up.sh
	$(PY) -m pytest -q

lint:
	.venv/bin/ruff check .

bench:
	$(PY) benchmarks/run_all.py

# The two set-up commands of the README.  Each installs what it needs first.
PY ?= .venv/bin/python
DII ?= .venv/bin/dii-hpc
# The test bed: a 3-node Slurm cluster emulated on this host and a GlusterFS mount for the store.
SHARED ?= /mnt/dii-shared

.PHONY: quickstart test lint bench

quickstart:
	bash scripts/install.sh
	$(DII) quickstart

test:
	bash scripts/install.sh --test
	$(PY) -m mypy
	bash scripts/slurm-up.sh --nodes 3
	bash scripts/sharedfs-up.sh $(SHARED)
	DII_TEST_SHARED=$(SHARED) $(PY) -m pytest -q

# ruff, and mypy as configured in pyproject.toml ([tool.mypy]: plain on dii_hpc, strict on
# store, tracking, config, launch and records).
lint:
	$(PY) -m ruff check .
	$(PY) -m mypy

bench:
	$(PY) benchmarks/run_all.py

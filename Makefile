# The two commands a fresh machine needs: `make demo` and `make test`.
.PHONY: setup demo test lint test-fast bench-tiny

VENV := .venv/bin

setup: .venv/.installed

.venv/.installed: pyproject.toml scripts/setup.sh constraints/job.txt
	./scripts/setup.sh
	touch $@

# demo-out/ is the demo's own folder: each run starts it afresh.
demo: setup
	rm -rf demo-out
	HF_HUB_OFFLINE=1 $(VENV)/hiddenparams demo --out demo-out

# The style (ruff owns it), then every tier that runs without a GPU: the fast unit tier and the slow end-to-end tier.
test: setup lint
	HF_HUB_OFFLINE=1 $(VENV)/python -m pytest -m "not gpu" -q

lint: setup
	$(VENV)/ruff format --check src tests bench scripts
	$(VENV)/ruff check src tests bench scripts

test-fast: setup
	$(VENV)/python -m pytest -q

# Every bench/ script in its --tiny mode (slow tier included): checks that each still runs; measures nothing.
bench-tiny: setup
	HF_HUB_OFFLINE=1 $(VENV)/python -m pytest tests/test_bench.py -m "not gpu" -q

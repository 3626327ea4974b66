# Every target creates .venv and installs what it needs on first use. `make demo` installs only
# the demo extra; `make test` (and lint, typecheck) install the dev extra and every extra the
# tests exercise. Each has its own stamp, so `make demo` then `make test` upgrades the same .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
DEMO_EXTRAS := demo
TEST_EXTRAS := dev,demo,hf,onnx,postgres,models,ray,hub
# A CPU build of PyTorch is installed first whenever an install would pull torch, so that no
# extra (or a dependency of one, such as lm-eval) ever pulls a CUDA build.
TORCH ?= torch==2.13.0
PIP := $(BIN)/pip --disable-pip-version-check

.PHONY: demo test check lint typecheck clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The demo: resolve first, CPU torch first only if the plan has torch, then install.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --dry-run --report $(VENV)/.plan.json -e ".[$(DEMO_EXTRAS)]"
	if $(BIN)/python scripts/needs_torch.py $(VENV)/.plan.json; then \
		$(PIP) install --quiet "$(TORCH)"; fi
	rm -f $(VENV)/.plan.json
	$(PIP) install --quiet -e ".[$(DEMO_EXTRAS)]"
	touch $@

# The tests exercise the hf extra (and lm-eval needs torch): CPU torch first, always.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[$(TEST_EXTRAS)]"
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/sovereval demo

# CI=true make test: what CI sees -- every test that would skip fails with the reason.
test: $(TEST_STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

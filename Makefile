# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
export HF_HUB_OFFLINE := 1
export MALLOC_MMAP_MAX_ := 0
export MALLOC_TRIM_THRESHOLD_ := 1073741824

.PHONY: install demo test lint format bench clean

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode

demo: install
	$(UV) run --frozen beautytune demo --out runs/demo

test: install
	$(UV) run --frozen pytest

lint: install
	$(UV) run --frozen ruff check src tests benchmarks
	$(UV) run --frozen ruff format --check src tests benchmarks
	$(UV) run --frozen mypy

format: install
	$(UV) run --frozen ruff format src tests benchmarks
	$(UV) run --frozen ruff check --fix src tests benchmarks

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache

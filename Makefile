# Two entry points for a fresh machine; each builds its own virtual environment.
PYTHON ?= python3
DEMO_VENV := .venv-demo
TEST_VENV := .venv-test
OUT ?= results/raqqa

.PHONY: demo test lint bench docs clean

$(DEMO_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet --upgrade pip
	$(DEMO_VENV)/bin/pip install --quiet .
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --upgrade pip
	$(TEST_VENV)/bin/pip install --quiet -e '.[test,bench,docs]'
	touch $@

demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/stracker simulate --preset raqqa --seed 0 --out $(OUT) --overwrite

test: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/ruff check stracker tests benchmarks notebooks sample_tiles docs
	$(TEST_VENV)/bin/ruff format --check stracker tests benchmarks notebooks sample_tiles docs
	$(TEST_VENV)/bin/mypy
	$(TEST_VENV)/bin/python -m pytest

bench: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python -m benchmarks

# The API reference from the docstrings, warnings as errors: docs/_build/html/index.html.
docs: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(DEMO_VENV) $(TEST_VENV) results docs/_build

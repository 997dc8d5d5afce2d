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

# Everything is in pyproject.toml; the Makefile only adds what pip cannot say: an editable install with every
# extra, and a build of llama-cpp-python from source on both cores (about 6-8 minutes; pip caches the wheel).
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install --upgrade pip wheel
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) install -e '.[local,ollama,cloud,tui,otel,dev]'
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

# Two commands: `make run` (the main job) and `make test` (lint, types, the whole test suite). `make data` adds
# what the training tasks and experiments/ need (docs/RESULTS.md's commands); `make test` installs it too.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
# the compiled streaming step (atrous.stream, engine="compiled"); without a C compiler the numpy engine is used
NATIVE := src/atrous/stream/libatrous_step.so

.PHONY: run data test lint typecheck browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[vision,report]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev]'
	# the nuclei image and mask of `atrous train nuclei`: stardist's data files, not its dependencies
	$(PIP) --no-deps stardist==0.9.2
	touch $@ $(VENV)/.installed $(VENV)/.installed-data

# scikit-learn (digits), music21 (chorales), networkx (karate), tifffile + stardist's bundled image (nuclei),
# pyjaspar (the JASPAR motifs of enhancer), matplotlib (the figures of experiments/)
$(VENV)/.installed-data: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[vision,report,data,genomics]'
	$(PIP) --no-deps stardist==0.9.2
	touch $@ $(VENV)/.installed

$(NATIVE): src/atrous/stream/_native.c | $(VENV)/.installed
	$(BIN)/python -m atrous.stream._build || echo "note: could not compile $(NATIVE); streaming uses the numpy engine"

data: $(VENV)/.installed-data

run: $(VENV)/.installed $(NATIVE)
	$(BIN)/atrous rf --kernel 3 --dilation 2,2,2 --dims 2
	$(BIN)/atrous report atrous:deeplabv3 --input-shape 1,3,513,513 -o report.html

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The report test drives a real headless browser; install Debian's chromium when it is missing (needs root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1) || \
	   echo "note: could not install chromium; the browser test will be skipped")

test: lint typecheck browser $(NATIVE)
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed $(NATIVE)
	$(BIN)/python benchmarks/rf.py
	$(BIN)/python benchmarks/erf.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache $(NATIVE)

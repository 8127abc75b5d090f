# pcbforge: `make demo` runs the whole pipeline on the built-in offline catalog; `make test` runs the tests.
# Both create .venv from requirements.lock (exact pins, installed with --no-deps so two
# installs resolve the same versions) and install the system packages they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pcbforge-installed
# Debian packages: the demo needs git; the tests also start redis (distributed crawl) and
# Chromium (the FiftyOne App browser test) for real.
DEMO_PACKAGES ?= git
TEST_PACKAGES ?= git redis-server chromium chromium-driver
export FIFTYONE_DO_NOT_TRACK := true
export PYTHONHASHSEED := 0
# dvc runs each stage's `pcbforge ...` command in a shell: it must find the venv's scripts.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup demo study test bench bench-scaling realbench clean
# Peers the benchmarks measure against, kept out of pcbforge's own environment.
PEERS ?= .venv-peers
PEER_PACKAGES ?= imagededup==0.3.3.post2 torch==2.14.1 torchvision==0.29.1

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	scripts/apt-ensure $(DEMO_PACKAGES)
	@[ -d .git ] || git init -q
	$(BIN)/dvc repro
	@$(BIN)/python -m pcbforge.report

# The whole pipeline at the study's size (docs/study.md) in build/study-<scale>, with a stage table.
STUDY_SCALE ?= 1
study: setup
	scripts/apt-ensure $(DEMO_PACKAGES)
	$(BIN)/python scripts/study.py --scale $(STUDY_SCALE)

test: setup
	scripts/apt-ensure $(TEST_PACKAGES)
	$(BIN)/python -m pytest -q

$(PEERS)/.installed:
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet $(PEER_PACKAGES)
	touch $@

# One table: each per-image stage against its peer, in one run on the same inputs (docs/benchmarks.md),
# written to reports/bench.md. BENCH_QUICK=1: small inputs, one repeat (a few minutes).
BENCH_QUICK ?=
bench: setup $(PEERS)/.installed
	$(BIN)/python benchmarks/bench_all.py --imagededup-python $(PEERS)/bin/python $(if $(BENCH_QUICK),--quick)

# Dedup and triplets at each size: time and peak memory against N (the 100k run takes hours on 2 cores).
SCALING_SIZES ?= 1000 10000 100000
bench-scaling: setup
	$(BIN)/python benchmarks/bench_all.py --scaling-only --scaling-sizes $(SCALING_SIZES)

# Did training help on real parts? Real-pair ROC-AUC of models/model.pt vs its untrained backbone,
# on every crop of the vendored real set. REAL_SEEN: its classes the model trained on real crops of
# (the demo's: held out are ic and smd_transistor); set it empty for a model trained without the set.
MODEL ?= models/model.pt
REAL_SEEN ?= smd_capacitor smd_resistor smd_diode
realbench: setup
	$(BIN)/python benchmarks/bench_realpairs.py --model $(MODEL) --per-class 200 --seen $(REAL_SEEN)

clean:
	rm -rf data models reports dvclive .fiftyone artifacts

# dub: two commands do everything on a fresh Debian machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := ffmpeg sox espeak-ng apertium apertium-eng-spa

export DAGSTER_HOME ?= $(CURDIR)/var/dagster_home
export DUB_OUTPUT ?= $(CURDIR)/var/output
export DUB_INBOX ?= $(CURDIR)/var/inbox
export PYANNOTE_METRICS_ENABLED := 0
export HF_HUB_OFFLINE := 1
export COQUI_TOS_AGREED := 1

.PHONY: setup system venv demo test test-fast ui bench bench-quick validate clean

setup: system venv $(DAGSTER_HOME)/dagster.yaml

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -q -e .
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) $(DUB_OUTPUT) $(DUB_INBOX)
	cp dagster.yaml $@

demo: setup
	$(BIN)/dub demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

validate: setup
	$(BIN)/dagster definitions validate -w workspace.yaml

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup
	$(BIN)/dub bench --json var/bench.json

bench-quick: setup
	$(BIN)/dub bench --quick --json var/bench-quick.json

clean:
	rm -rf var/output var/demo var/cache

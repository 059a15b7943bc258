# dub: two commands do everything on a fresh Debian machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := ffmpeg sox espeak-ng apertium apertium-eng-spa apertium-es-pt apertium-por-cat apertium-spa-cat \
  apertium-pt-gl apertium-es-gl apertium-en-gl apertium-eng-cat apertium-fra-cat apertium-fr-es apertium-cat-ita \
  apertium-spa-ita
# Exact versions + sha256 of every package (pip included) for linux x86_64 / CPython 3.11; `make lock` rewrites it.
LOCK := requirements.lock
LOCK_PLATFORM := x86_64-manylinux_2_36
LOCK_UPGRADE ?= --upgrade
LOCK_CONSTRAINTS := $(wildcard /etc/xdg/pip/constraints.txt)
# uv ignores Requires-Python upper bounds: keep it off releases that pip refuses on 3.11 (typing 3.10.0.0 is <3.5 only)
LOCK_FIXES := 'typing<3.10'
UV_VERSION := 0.13.10
UV := $(VENV)/lock-tools/bin/uv

export DAGSTER_HOME ?= $(CURDIR)/var/dagster_home
export DUB_OUTPUT ?= $(CURDIR)/var/output
export DUB_INBOX ?= $(CURDIR)/var/inbox
export PYANNOTE_METRICS_ENABLED := 0
export HF_HUB_OFFLINE := 1
export COQUI_TOS_AGREED := 1

.PHONY: setup system venv lock lock-resolve lock-check demo test test-fast ui bench bench-quick validate clean

setup: system venv $(DAGSTER_HOME)/dagster.yaml

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

# The lock's pip first (the one python3 -m venv seeds, 23.x, mis-handles extras such as gql[requests] in hash mode),
# then everything from the lock (hash-checked), then the project itself without touching its dependencies; `pip check`
# fails when pyproject.toml asks for something the lock does not give (the lock is stale: run `make lock`).
$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r <(awk '/^[^ #]/ { p = /^pip==/ } p' $(LOCK))
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	@out=$$($(BIN)/pip check) || { echo "$$out"; echo "$(LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
	touch $@

# Re-resolve the lock from pyproject.toml (newest allowed versions; `make lock LOCK_UPGRADE=` keeps the current pins
# where they still fit), install it, drop what it no longer lists, then run the tests and the quick bench.
lock: lock-resolve
	$(MAKE) venv
	$(BIN)/python -c "$$LOCK_CHECK_PY" --prune
	$(MAKE) test
	$(BIN)/dub bench --quick --json var/bench-quick.json

lock-resolve: $(UV)
	printf 'pip\n' | $(UV) pip compile pyproject.toml - --generate-hashes --python-version 3.11 \
	  --python-platform $(LOCK_PLATFORM) $(addprefix -c ,$(LOCK_CONSTRAINTS)) -c <(printf '%s\n' $(LOCK_FIXES)) \
	  $(LOCK_UPGRADE) \
	  --custom-compile-command "make lock" -o $(LOCK) >/dev/null
	sed -i 's|-c /dev/fd/[0-9]*$$|-c LOCK_FIXES (Makefile)|' $(LOCK)

$(UV):
	$(PYTHON) -m venv $(VENV)/lock-tools
	$(VENV)/lock-tools/bin/pip install -q uv==$(UV_VERSION)

# The venv holds exactly the lock's versions (plus the project itself); CI runs it after the tests.
lock-check: venv
	$(BIN)/python -c "$$LOCK_CHECK_PY"

define LOCK_CHECK_PY
import re, subprocess, sys
from importlib.metadata import distributions
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
pins = {norm(n): v for n, v in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", open("$(LOCK)").read(), re.M)}
have = {norm(d.metadata["Name"]): d.version for d in distributions()}
have.pop("dub", None)
wrong = sorted(f"{n} {have[n]} (lock: {v})" for n, v in pins.items() if n in have and have[n] != v)
missing = sorted(f"{n}=={v}" for n, v in pins.items() if n not in have)
extra = sorted(n for n in have if n not in pins)
if extra and "--prune" in sys.argv:
    subprocess.check_call([sys.executable, "-m", "pip", "uninstall", "-q", "-y", *extra])
    print("removed, not in the lock:", " ".join(extra))
    extra = []
for label, items in (("differs from the lock", wrong), ("missing", missing), ("not in the lock", extra)):
    if items:
        print(f"$(VENV) {label}:", ", ".join(items))
if wrong or missing or extra:
    sys.exit(1)
print(f"$(VENV) matches $(LOCK): {len(pins)} packages")
endef
export LOCK_CHECK_PY

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

"""Shared fixtures: the eval data folder (../shared/eval, never copied into the repo) and process-wide env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("COQUI_TOS_AGREED", "1")

REPO = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("DUB_EVAL_DIR", REPO.parent / "shared" / "eval"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still part of `make test`)")


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not EVAL.exists():
        pytest.skip(f"eval data not found at {EVAL} (set DUB_EVAL_DIR)")
    return EVAL

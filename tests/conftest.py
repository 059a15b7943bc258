"""Shared fixtures: the eval data folder (../shared/eval, never copied into the repo) and process-wide env.

Missing eval data skips the tests that need it on a developer machine, but in CI (CI=true) it is a failure: a CI run
that silently skipped half the suite would look green while testing nothing. The end of every run prints one line
`dub: N passed, M skipped, K failed, ...`; in CI every skip is listed with its reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("COQUI_TOS_AGREED", "1")

REPO = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("DUB_EVAL_DIR", REPO.parent / "shared" / "eval"))
# The skip messages the test files use when eval data is absent (here and in files with their own checks).
EVAL_MISSING = re.compile(r"eval data (not found|missing)")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def eval_missing(reason: str):
    """Skip (developer machine) or fail (CI) a test whose eval data is absent."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: missing eval data is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still part of `make test`)")


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not EVAL.is_dir():
        eval_missing(f"eval data not found at {EVAL} (set DUB_EVAL_DIR)")
    return EVAL


@pytest.fixture(scope="session")
def eval_path(eval_dir):
    """eval_path("diarization_ami", "dev00.wav") -> the path, or skip / fail (CI) when it is absent."""

    def get(*parts: str) -> Path:
        p = eval_dir.joinpath(*parts)
        if not p.exists():
            eval_missing(f"eval data missing: {p}")
        return p

    return get


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI, a skip for missing eval data raised by a test file's own check (not through the fixtures above) is
    turned into a failure as well."""
    outcome = yield
    rep = outcome.get_result()
    if in_ci() and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if EVAL_MISSING.search(reason):
            rep.outcome = "failed"
            rep.longrepr = f"{reason} (CI=true: missing eval data is a failure, not a skip)"


def _skip_reason(rep) -> str:
    if isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3:
        path, line, reason = rep.longrepr
        return f"{reason.removeprefix('Skipped: ')} ({path}:{line})"
    return str(rep.longrepr)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = terminalreporter.stats

    def nodes(key: str) -> list:
        seen, out = set(), []
        for rep in stats.get(key, []):
            nid = getattr(rep, "nodeid", None)
            if nid not in seen:
                seen.add(nid)
                out.append(rep)
        return out

    counts = {k: len(nodes(k)) for k in ("passed", "skipped", "failed", "error", "xfailed", "xpassed")}
    extra = "".join(f", {counts[k]} {k}" for k in ("error", "xfailed", "xpassed") if counts[k])
    terminalreporter.write_line(f"dub: {counts['passed']} passed, {counts['skipped']} skipped, "
                                f"{counts['failed']} failed{extra}")
    if in_ci() and counts["skipped"]:
        terminalreporter.write_line(f"dub: CI=true and {counts['skipped']} test(s) skipped:")
        for rep in nodes("skipped"):
            terminalreporter.write_line(f"  SKIPPED {rep.nodeid}: {_skip_reason(rep)}")

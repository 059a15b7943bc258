"""Run one stage's work in a short-lived forked child, so the models and libraries it loads leave with it.

A pipeline process that runs diarization (torch + pyannote), ASR, Kokoro and the CAM++ voice matcher one after the
other would keep every one of them resident: ~0.7 GB of torch/pyannote alone never leaves a process once imported.
Forking per heavy stage keeps the long-lived process lean (Dagster + dub only), bounds the peak to one stage's
needs, and costs milliseconds (no re-import: the child inherits the parent's memory copy-on-write).

Fork is only safe while the parent has not loaded a runtime with its own thread pools (torch, CTranslate2): a child
could wait forever on a lock held by a thread that was not copied. So the decision is made per call and returned
with its reason, and the stage manifest records it: a stage that ran in-process says so and why.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from .errors import DubError

T = TypeVar("T")

# Runtimes whose thread pools do not survive fork (see the module docstring).
FORK_UNSAFE_MODULES = ("torch", "ctranslate2")


def fork_is_safe() -> bool:
    """True while this process has not loaded a runtime whose threads a forked child could wait on."""
    return not any(m in sys.modules for m in FORK_UNSAFE_MODULES)


def isolation_decision(enabled: bool) -> tuple[bool, str]:
    """(isolate?, why) for a stage asked to run isolated, given the DUB_ISOLATE_STAGES setting."""
    if not enabled:
        return False, "DUB_ISOLATE_STAGES=off"
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
        return False, f"no fork on {sys.platform}"
    if not fork_is_safe():
        loaded = [m for m in FORK_UNSAFE_MODULES if m in sys.modules]
        return False, f"this process already loaded {', '.join(loaded)} (fork would be unsafe)"
    return True, "forked child"


@dataclass
class Isolated(Generic[T]):
    value: T
    isolated: bool
    reason: str
    child_pid: int | None = None


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a DubError carrying its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any unpicklable exception is reduced to its text
        return DubError(f"{type(exc).__name__}: {exc}")


def run_isolated(fn: Callable[[], T], label: str = "stage", enabled: bool = True) -> Isolated[T]:
    """fn() in a forked child when that is enabled and safe, else in this process; the value (picklable) or the
    exception comes back to the caller. If the caller is interrupted (a cancelled run), the child is killed and
    reaped before the interruption propagates, so no orphan keeps writing the stage's outputs."""
    isolate, reason = isolation_decision(enabled)
    if not isolate:
        return Isolated(fn(), False, reason)
    sys.stdout.flush()
    sys.stderr.flush()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the caller's stack, never run the parent's atexit handlers
        code = 0
        try:
            os.close(rfd)
            try:
                payload = pickle.dumps(("ok", fn()))
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                payload = pickle.dumps(("err", _portable(exc), traceback.format_exc()))
            with os.fdopen(wfd, "wb") as fh:
                fh.write(payload)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(wfd)
    status = None
    try:
        with os.fdopen(rfd, "rb") as fh:
            data = fh.read()
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:  # interrupted while the child works: stop it and reap it
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    if not data:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        why = f"killed by signal {sig}" + (" (out of memory?)" if sig == 9 else "") if sig else \
            f"exit status {os.WEXITSTATUS(status)}"
        raise DubError(f"{label}: worker process died ({why})")
    payload = pickle.loads(data)
    if payload[0] == "ok":
        return Isolated(payload[1], True, reason, pid)
    exc, tb = payload[1], payload[2]
    if hasattr(exc, "add_note"):
        exc.add_note(f"in the {label} worker process:\n{tb}")
    raise exc

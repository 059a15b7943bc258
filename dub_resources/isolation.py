"""Run one stage's work in a short-lived forked child, so the models and libraries it loads leave with it.

A pipeline process that runs diarization (torch + pyannote), ASR, Kokoro and the CAM++ voice matcher one after the
other would keep every one of them resident: ~0.7 GB of torch/pyannote alone never leaves a process once imported.
Forking per heavy stage keeps the long-lived process lean (Dagster + dub only), bounds the peak to one stage's
needs, and costs milliseconds (no re-import: the child inherits the parent's memory copy-on-write). Where fork is
unavailable (not Linux) or DUB_ISOLATE_STAGES=off, the work runs in-process.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from typing import Callable, TypeVar

from .errors import DubError

T = TypeVar("T")


# Runtimes whose thread pools do not survive fork (see the module docstring).
FORK_UNSAFE_MODULES = ("torch", "ctranslate2")


def isolation_enabled() -> bool:
    """Configured on (DUB_ISOLATE_STAGES, default on) and possible here (Linux fork)."""
    if os.environ.get("DUB_ISOLATE_STAGES", "on").strip().lower() in {"0", "off", "false", "no"}:
        return False
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def fork_is_safe() -> bool:
    """True while this process has not loaded a runtime whose threads a forked child could wait on."""
    return not any(m in sys.modules for m in FORK_UNSAFE_MODULES)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a DubError carrying its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any unpicklable exception is reduced to its text
        return DubError(f"{type(exc).__name__}: {exc}")


def run_isolated(fn: Callable[[], T], label: str = "stage") -> T:
    """fn() in a forked child; its return value (picklable) or its exception comes back to the caller.
    In-process when isolation is off or the fork would not be safe."""
    if not (isolation_enabled() and fork_is_safe()):
        return fn()
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
    with os.fdopen(rfd, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        why = f"killed by signal {sig}" + (" (out of memory?)" if sig == 9 else "") if sig else \
            f"exit status {os.WEXITSTATUS(status)}"
        raise DubError(f"{label}: worker process died ({why})")
    payload = pickle.loads(data)
    if payload[0] == "ok":
        return payload[1]
    exc, tb = payload[1], payload[2]
    if hasattr(exc, "add_note"):
        exc.add_note(f"in the {label} worker process:\n{tb}")
    raise exc

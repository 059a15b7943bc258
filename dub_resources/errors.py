"""Errors that reach the user as one clear line naming the file and the cause.

Every class here must survive pickling (errors travel back from forked stage processes): a subclass whose
__init__ does not take the message as its only argument defines __reduce__.
"""

from __future__ import annotations

from pathlib import Path


def one_line(text: object, limit: int = 300) -> str:
    """Collapse whitespace (newlines included) so a message stays on one line; cap its length."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class DubError(RuntimeError):
    """Base class: the message is meant to be shown to the user as-is, on one line."""


class InputError(DubError):
    """Bad input file (missing, unreadable, no audio stream, ...)."""

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{path}: {cause}")

    def __reduce__(self):  # picklable: errors travel back from isolated stage processes
        return (type(self), (self.path, self.cause))


class InvalidName(DubError):
    """A series or episode key that is not a safe slug (it would name a path outside DUB_OUTPUT, or a bad one)."""

    def __init__(self, kind: str, value: object, rule: str):
        self.kind, self.value, self.rule = kind, value, rule
        super().__init__(f"{kind} {one_line(repr(value), 80)}: invalid name: {rule}")

    def __reduce__(self):
        return (type(self), (self.kind, self.value, self.rule))


class EngineUnavailable(DubError):
    """An engine cannot run here (package or weights missing); callers fall back."""


class NotConfigured(EngineUnavailable):
    """An optional engine the user has not set up (no local weights, no endpoint): skipping it in 'auto' is the normal
    case, not a fallback worth reporting."""


class UnsupportedLanguagePair(DubError):
    """No translator is available for a language pair: never a silent pass-through."""

    def __init__(self, source: str, target: str, tried: list[str] | None = None):
        self.source, self.target, self.tried = source, target, tried
        extra = f" (tried: {', '.join(tried)})" if tried else ""
        super().__init__(f"no translator for {source}->{target}{extra}")

    def __reduce__(self):
        return (type(self), (self.source, self.target, self.tried))

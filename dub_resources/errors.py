"""Errors that reach the user as one clear line naming the file and the cause."""

from __future__ import annotations

from pathlib import Path


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


class EngineUnavailable(DubError):
    """An engine cannot run here (package or weights missing); callers fall back."""


class UnsupportedLanguagePair(DubError):
    """No translator is available for a language pair: never a silent pass-through."""

    def __init__(self, source: str, target: str, tried: list[str] | None = None):
        self.source, self.target, self.tried = source, target, tried
        extra = f" (tried: {', '.join(tried)})" if tried else ""
        super().__init__(f"no translator for {source}->{target}{extra}")

    def __reduce__(self):
        return (type(self), (self.source, self.target, self.tried))

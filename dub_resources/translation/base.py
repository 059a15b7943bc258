"""Translation interface: a list of source sentences to a list of target sentences, same length and order."""

from __future__ import annotations

from typing import Protocol

from ..engine import EngineInfo


class Translator(Protocol):
    name: str
    info: EngineInfo

    def supports(self, source: str, target: str) -> bool: ...

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        """Translate each text. Raises UnsupportedLanguagePair for a pair it cannot do."""
        ...

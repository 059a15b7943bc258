"""Identity 'translation' for source == target: explicit, so a pass-through is never silent."""

from __future__ import annotations

from ..engine import EngineInfo
from ..errors import UnsupportedLanguagePair
from .common import norm_lang


class IdentityTranslator:
    name = "identity"

    def __init__(self) -> None:
        self.info = EngineInfo("identity", "1", [])

    def supports(self, source: str, target: str) -> bool:
        return norm_lang(source) == norm_lang(target)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        if not self.supports(source, target):
            raise UnsupportedLanguagePair(source, target, ["identity (same language only)"])
        return list(texts)

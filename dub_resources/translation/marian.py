"""Local neural MT slot: a CTranslate2-converted OPUS-MT (Marian) folder under DUB_MODELS_DIR/mt/<src>-<tgt>.

Expected folder content (what `ct2-transformers-converter --model Helsinki-NLP/opus-mt-en-es` plus the two
SentencePiece files give): model.bin, config.json, shared_vocabulary.* or source/target vocabularies, source.spm,
target.spm. Optional target_prefix.txt holds a token such as '>>spa<<' for multi-target models.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..engine import EngineInfo, package_version, weights_digest
from ..errors import DubError, EngineUnavailable, UnsupportedLanguagePair
from .common import norm_lang, translate_nonempty

REQUIRED = ("model.bin", "source.spm", "target.spm")
_CACHE: dict[str, tuple[object, object, object]] = {}
_LOCK = threading.Lock()


def mt_folder(models_dir: Path | None, source: str, target: str) -> Path | None:
    """DUB_MODELS_DIR/mt/<src>-<tgt> if it holds a complete CTranslate2 Marian model."""
    if models_dir is None:
        return None
    folder = Path(models_dir) / "mt" / f"{norm_lang(source)}-{norm_lang(target)}"
    return folder if all((folder / f).is_file() for f in REQUIRED) else None


def _load(folder: Path, threads: int):
    key = str(folder.resolve())
    with _LOCK:
        if key not in _CACHE:
            try:
                import ctranslate2
                import sentencepiece as spm
            except ImportError as exc:
                raise EngineUnavailable(f"ctranslate2/sentencepiece not installed: {exc}") from exc
            model = ctranslate2.Translator(key, device="cpu", compute_type="int8", intra_threads=threads)
            src = spm.SentencePieceProcessor(model_file=str(folder / "source.spm"))
            tgt = spm.SentencePieceProcessor(model_file=str(folder / "target.spm"))
            _CACHE[key] = (model, src, tgt)
        return _CACHE[key]


class CTranslate2MarianTranslator:
    """OPUS-MT through CTranslate2 (int8, beam 4): better than rule-based MT, still fully offline."""

    name = "mt"

    def __init__(self, folder: Path, source: str, target: str, beam_size: int = 4, threads: int = 1):
        self.folder = Path(folder)
        self.threads = threads
        self.pair = (norm_lang(source), norm_lang(target))
        self.beam_size = beam_size
        prefix = self.folder / "target_prefix.txt"
        self.target_prefix = prefix.read_text("utf-8").strip() if prefix.is_file() else ""
        self.info = EngineInfo(f"ctranslate2-marian:{self.folder.name}", f"ctranslate2 {package_version('ctranslate2')}; weights {weights_digest(self.folder)}", [])

    def supports(self, source: str, target: str) -> bool:
        return (norm_lang(source), norm_lang(target)) == self.pair

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        if not self.supports(source, target):
            raise UnsupportedLanguagePair(source, target, [f"mt folder {self.folder.name}"])
        model, sp_src, sp_tgt = _load(self.folder, self.threads)

        def run(lines: list[str]) -> list[str]:
            tokens = [sp_src.encode(ln, out_type=str) + ["</s>"] for ln in lines]
            if self.target_prefix:
                tokens = [[self.target_prefix] + t for t in tokens]
            try:
                results = model.translate_batch(tokens, beam_size=self.beam_size, max_batch_size=32,
                                                max_decoding_length=256)
            except Exception as exc:
                raise DubError(f"ctranslate2 MT {self.folder.name} failed: {exc}") from exc
            out = []
            for r in results:
                pieces = [p for p in r.hypotheses[0] if p not in ("</s>", "<pad>", "<s>")]
                out.append(sp_tgt.decode(pieces))
            return out

        return translate_nonempty(texts, run)

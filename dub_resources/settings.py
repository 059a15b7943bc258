"""One typed settings object read from the environment (DUB_* variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Where derived model files live (joined Whisper base, assembled Kokoro model): DUB_CACHE_DIR or var/cache
    inside the checkout, never a hidden per-user cache."""
    value = os.environ.get("DUB_CACHE_DIR")
    return Path(value).expanduser().resolve() if value else REPO_ROOT / "var" / "cache"


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "on", "true", "yes"}


def _path(value: str | None, default: Path) -> Path:
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Every field has a sane offline default."""

    output_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "output")
    inbox_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "inbox")
    models_dir: Path | None = None
    voice_store: Path | None = None
    voice_memory: bool = False
    privacy_mode: bool = False
    encryption_key: str | None = None
    source_lang: str = "en"
    target_lang: str = "es"
    separator: str = "auto"
    diarizer: str = "auto"
    transcriber: str = "auto"
    translator: str = "auto"
    synthesizer: str = "auto"
    num_speakers: int | None = None
    inbox_settle_seconds: float = 5.0
    dubbed_audio_codec: str = "opus"  # the dubbed track in the .mkv: opus (fast, Matroska-native) or aac

    @property
    def voice_memory_active(self) -> bool:
        """Voice memory is opt-in and always off in privacy/minimal mode."""
        return self.voice_memory and not self.privacy_mode

    @property
    def voice_store_dir(self) -> Path:
        return self.voice_store or (self.output_dir / "_voice_store")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        e = os.environ if env is None else env
        base = cls()
        models = e.get("DUB_MODELS_DIR")
        store = e.get("DUB_VOICE_STORE") or e.get("VOICE_STORE")
        nspk = e.get("DUB_NUM_SPEAKERS")
        return cls(
            output_dir=_path(e.get("DUB_OUTPUT"), base.output_dir),
            inbox_dir=_path(e.get("DUB_INBOX"), base.inbox_dir),
            models_dir=Path(models).expanduser().resolve() if models else None,
            voice_store=Path(store).expanduser().resolve() if store else None,
            voice_memory=_flag(e.get("DUB_VOICE_MEMORY") or e.get("VOICE_MEMORY")),
            privacy_mode=_flag(e.get("DUB_PRIVACY_MODE")) or _flag(e.get("DUB_MINIMAL_ARTIFACTS")),
            encryption_key=e.get("DUB_ENCRYPTION_KEY") or None,
            source_lang=e.get("DUB_SOURCE_LANG", base.source_lang),
            target_lang=e.get("DUB_TARGET_LANG", base.target_lang),
            separator=e.get("DUB_SEPARATOR", base.separator),
            diarizer=e.get("DUB_DIARIZER", base.diarizer),
            transcriber=e.get("DUB_TRANSCRIBER", base.transcriber),
            translator=e.get("DUB_TRANSLATOR", base.translator),
            synthesizer=e.get("DUB_SYNTHESIZER", base.synthesizer),
            num_speakers=int(nspk) if nspk else None,
            inbox_settle_seconds=float(e.get("DUB_INBOX_SETTLE_SECONDS", base.inbox_settle_seconds)),
            dubbed_audio_codec=(e.get("DUB_AUDIO_CODEC") or base.dubbed_audio_codec).strip().lower(),
        )

    def model_path(self, *parts: str) -> Path | None:
        """A path under DUB_MODELS_DIR if configured and present, else None."""
        if self.models_dir is None:
            return None
        p = self.models_dir.joinpath(*parts)
        return p if p.exists() else None

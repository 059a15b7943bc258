"""Every file name of an episode and a series, computed in one place.

Every series and episode key passes through EpisodePaths / SeriesPaths, which validate it: no key can name a path
outside DUB_OUTPUT.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidName

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")  # \Z, not $: "$" would accept a trailing newline
SLUG_RULE = "use lower-case letters, digits, '.', '_' or '-' (max 64, starting with a letter or digit)"
EPISODE_RE = re.compile(r"[sS](\d{1,3})[ ._-]?[eE](\d{1,4})")
_HASH_LEN = 6


def title_hash(title: str) -> str:
    """First 6 hex digits of the SHA-1 of the NFC-normalised title (stable across runs and machines)."""
    return hashlib.sha1(unicodedata.normalize("NFC", title).encode("utf-8")).hexdigest()[:_HASH_LEN]


def slugify(text: str) -> str:
    """A series title -> its slug; different titles never share a slug (short of a 24-bit hash collision).

    A title that already is a valid slug is its own slug ('my-show' -> 'my-show', 'my_show' -> 'my_show'). Any other
    title is transliterated (NFKD, accents stripped, lower-cased, runs of anything else -> '-') and gets a short hash
    of the original title appended, so spellings that transliterate alike stay apart:
    'My Show' -> 'my-show-<h>', 'My-Show' -> 'my-show-<h2>', 'Café' -> 'cafe-<h>', and a title with nothing
    transliterable (Japanese, Greek) -> 'series-<h>'.
    """
    if SLUG_RE.fullmatch(text):
        return text
    ascii_text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    base = re.sub(r"[^a-z0-9]+", "-", ascii_text.encode("ascii", "ignore").decode("ascii").lower()).strip("-")
    base = base[: 64 - 1 - _HASH_LEN].rstrip("-") or "series"
    return f"{base}-{title_hash(text)}"


def episode_key_from_name(name: str) -> str | None:
    """'Show.S01E03.mkv' -> 's01e03'; None when the name carries no SxxEyy."""
    m = EPISODE_RE.search(name)
    if not m:
        return None
    return f"s{int(m.group(1)):02d}e{int(m.group(2)):02d}"


def validate_slug(kind: str, value: str) -> str:
    """Return `value` when it is a safe key (one path component, never '.', '..', '' or absolute); else InvalidName."""
    if not isinstance(value, str) or not SLUG_RE.fullmatch(value):
        raise InvalidName(kind, value, SLUG_RULE)
    return value


@dataclass(frozen=True)
class EpisodePaths:
    """Layout of DUB_OUTPUT/<series>/<episode>/."""

    output_dir: Path
    series: str
    episode: str

    def __post_init__(self) -> None:
        validate_slug("series", self.series)
        validate_slug("episode", self.episode)
        object.__setattr__(self, "output_dir", Path(self.output_dir))

    @property
    def root(self) -> Path:
        return self.output_dir / self.series / self.episode

    def manifest(self, stage: str) -> Path:
        return self.root / "manifests" / f"{stage}.json"

    # registration (written by CLI / sensor)
    @property
    def registration(self) -> Path:
        return self.root / "episode.json"

    # source
    @property
    def source_48k(self) -> Path:
        return self.root / "audio" / "source_48k.wav"

    @property
    def source_16k(self) -> Path:
        return self.root / "audio" / "source_16k.wav"

    @property
    def probe(self) -> Path:
        return self.root / "audio" / "probe.json"

    # stems
    @property
    def stems_dir(self) -> Path:
        return self.root / "stems"

    @property
    def dialogue(self) -> Path:
        return self.stems_dir / "dialogue.wav"

    @property
    def dialogue_16k(self) -> Path:
        return self.stems_dir / "dialogue_16k.wav"

    @property
    def background(self) -> Path:
        return self.stems_dir / "background.wav"

    # diarization
    @property
    def diarization_json(self) -> Path:
        return self.root / "diarization" / "diarization.json"

    @property
    def diarization_rttm(self) -> Path:
        return self.root / "diarization" / "diarization.rttm"

    # transcript / translation
    @property
    def transcript_json(self) -> Path:
        return self.root / "transcript" / "transcript.json"

    @property
    def transcript_srt(self) -> Path:
        return self.root / "transcript" / "transcript.srt"

    @property
    def translation_parquet(self) -> Path:
        return self.root / "translation" / "segments.parquet"

    @property
    def translation_json(self) -> Path:
        return self.root / "translation" / "segments.json"

    def translation_srt(self, lang: str) -> Path:
        return self.root / "translation" / f"subtitles.{lang}.srt"

    # voice refs
    @property
    def refs_dir(self) -> Path:
        return self.root / "voice_refs"

    def ref_wav(self, speaker: str) -> Path:
        return self.refs_dir / f"{speaker}.wav"

    @property
    def refs_manifest(self) -> Path:
        return self.refs_dir / "manifest.json"

    # tts
    def tts_dir(self, pass_no: int) -> Path:
        return self.root / f"tts_pass{pass_no}"

    def tts_line(self, pass_no: int, index: int) -> Path:
        return self.tts_dir(pass_no) / "lines" / f"line_{index:04d}.wav"

    def tts_manifest(self, pass_no: int) -> Path:
        return self.tts_dir(pass_no) / "tts_manifest.json"

    def dialogue_track(self, pass_no: int) -> Path:
        return self.tts_dir(pass_no) / "dialogue_track.wav"

    # mixes / video
    @property
    def preview_mix(self) -> Path:
        return self.root / "mix" / "preview_mix.wav"

    @property
    def final_mix(self) -> Path:
        return self.root / "mix" / "final_mix.wav"

    @property
    def dubbed_video(self) -> Path:
        return self.root / "video" / f"{self.series}.{self.episode}.dubbed.mkv"


@dataclass(frozen=True)
class SeriesPaths:
    """Layout of DUB_OUTPUT/<series>/ (series-level outputs, not the voice store itself)."""

    output_dir: Path
    series: str

    def __post_init__(self) -> None:
        validate_slug("series", self.series)
        object.__setattr__(self, "output_dir", Path(self.output_dir))

    @property
    def root(self) -> Path:
        return self.output_dir / self.series

    @property
    def series_record(self) -> Path:
        """{"slug", "title"}: the title this slug belongs to (registry refuses another title for the same slug)."""
        return self.root / "series.json"

    @property
    def voice_memory_summary(self) -> Path:
        return self.root / "voice_memory" / "summary.json"

    @property
    def voice_profiles(self) -> Path:
        """Voice profiles of reference wavs, by content (voice_match.ProfileCache)."""
        return self.root / "voice_profiles"

    def episode_mapping(self, episode: str) -> Path:
        """Episode-local speaker->character mapping (written even when the persistent store is off)."""
        validate_slug("episode", episode)
        return self.root / "voice_memory" / "episodes" / f"{episode}.json"

    def episode(self, episode: str) -> EpisodePaths:
        return EpisodePaths(self.output_dir, self.series, episode)

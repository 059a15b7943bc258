"""ffmpeg/ffprobe wrappers: probe, extract the work copies, mux the dubbed video. Errors name the file and the cause."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import DubError, InputError
from .manifest import atomic_path

WORK_SR = 48000
ANALYSIS_SR = 16000
VIDEO_SUFFIXES = {".mkv", ".mp4", ".mov", ".webm", ".avi", ".m4v"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac"}
MEDIA_SUFFIXES = VIDEO_SUFFIXES | AUDIO_SUFFIXES

ISO639_2 = {
    "en": "eng", "es": "spa", "pt": "por", "fr": "fra", "de": "deu", "it": "ita", "ja": "jpn", "zh": "zho",
    "ca": "cat", "gl": "glg", "nl": "nld", "ru": "rus", "ko": "kor", "hi": "hin", "ar": "ara", "pl": "pol",
}


def iso639_2(lang: str) -> str:
    return ISO639_2.get(lang.lower(), lang.lower()[:3])


@dataclass
class ProbeInfo:
    path: str
    duration_s: float
    has_video: bool
    audio_streams: int
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    format_name: str | None = None
    streams: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """'5.1.9-0+deb12u1' (recorded in the stage manifests of the stages that use ffmpeg)."""
    r = subprocess.run([_require("ffmpeg"), "-version"], capture_output=True, text=True)
    first = (r.stdout.splitlines() or ["unknown"])[0].split()
    return first[2] if len(first) > 2 else "unknown"


def engine_info() -> "EngineInfo":
    from .engine import EngineInfo

    return EngineInfo("ffmpeg", ffmpeg_version())


def _require(tool: str) -> str:
    exe = shutil.which(tool)
    if not exe:
        raise DubError(f"{tool} not found on PATH: install it (apt-get install ffmpeg)")
    return exe


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


def probe(path: str | Path) -> ProbeInfo:
    """Probe a media file; InputError when it is missing, unreadable or has no audio."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    if not p.is_file():
        raise InputError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    cmd = [_require("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(p)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise InputError(p, f"not a readable media file ({_last_line(r.stderr)})")
    data = json.loads(r.stdout or "{}")
    streams = data.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    video = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    if not audio:
        raise InputError(p, "no audio stream")
    fmt = data.get("format", {})
    dur = float(fmt.get("duration") or audio[0].get("duration") or 0.0)
    if dur <= 0:
        raise InputError(p, "zero-length media")
    a0 = audio[0]
    v0 = video[0] if video else {}
    return ProbeInfo(
        path=str(p.resolve()),
        duration_s=dur,
        has_video=bool(video),
        audio_streams=len(audio),
        audio_codec=a0.get("codec_name"),
        sample_rate=int(a0["sample_rate"]) if a0.get("sample_rate") else None,
        channels=a0.get("channels"),
        video_codec=v0.get("codec_name"),
        width=v0.get("width"),
        height=v0.get("height"),
        format_name=fmt.get("format_name"),
        streams=[{k: s.get(k) for k in ("index", "codec_type", "codec_name", "channels", "sample_rate")} for s in streams],
    )


def run_ffmpeg(args: list[str], what: str | Path) -> None:
    """Run ffmpeg quietly; raise InputError(what, last stderr line) on failure."""
    cmd = [_require("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise InputError(what, f"ffmpeg failed: {_last_line(r.stderr)}")


def extract_audio(src: str | Path, work_wav: Path, analysis_wav: Path) -> None:
    """Decode the first audio stream to a 48 kHz stereo work copy and a 16 kHz mono analysis copy (atomic writes)."""
    with atomic_path(work_wav, ".wav") as t48, atomic_path(analysis_wav, ".wav") as t16:
        run_ffmpeg(
            ["-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn",
             "-ac", "2", "-ar", str(WORK_SR), "-c:a", "pcm_s16le", "-f", "wav", str(t48),
             "-map", "0:a:0", "-vn", "-sn", "-dn",
             "-ac", "1", "-ar", str(ANALYSIS_SR), "-c:a", "pcm_s16le", "-f", "wav", str(t16)],
            src,
        )


def mux_dubbed_video(
    *,
    source: str | Path,
    has_video: bool,
    dubbed_wav: Path,
    subtitles_srt: Path | None,
    out_path: Path,
    target_lang: str,
    source_lang: str,
    audio_codec: str = "opus",
) -> Path:
    """Matroska with the source's video stream and original audio stream copied untouched, the dubbed track
    (default) first, and a translated subtitle track. Copying the original track keeps its quality and costs nothing.

    The dubbed track is Opus 160 kb/s by default (Matroska's native codec, transparent at that rate, and about 3x
    cheaper to encode than ffmpeg's AAC on a long episode), or AAC 192 kb/s (`audio_codec="aac"`) for deliveries
    that require it."""
    codecs = {"opus": ["libopus", "160k"], "aac": ["aac", "192k"]}
    if audio_codec not in codecs:
        raise DubError(f"unknown dubbed audio codec {audio_codec!r}: use opus or aac")
    encoder, bitrate = codecs[audio_codec]
    args = ["-i", str(source), "-i", str(dubbed_wav)]
    if subtitles_srt is not None:
        args += ["-i", str(subtitles_srt)]
    if has_video:
        args += ["-map", "0:v:0"]
    args += ["-map", "1:a:0", "-map", "0:a:0"]
    if subtitles_srt is not None:
        args += ["-map", "2:s:0"]
    tl, sl = iso639_2(target_lang), iso639_2(source_lang)
    args += ["-c:v", "copy", "-c:a:0", encoder, "-b:a:0", bitrate, "-c:a:1", "copy", "-c:s", "srt"]
    args += ["-metadata:s:a:0", f"language={tl}", "-metadata:s:a:0", f"title=Dubbed ({target_lang})",
             "-disposition:a:0", "default",
             "-metadata:s:a:1", f"language={sl}", "-metadata:s:a:1", f"title=Original ({source_lang})",
             "-disposition:a:1", "0"]
    if subtitles_srt is not None:
        args += ["-metadata:s:s:0", f"language={tl}", "-metadata:s:s:0", f"title=Subtitles ({target_lang})",
                 "-disposition:s:0", "0"]
    with atomic_path(out_path, ".mkv") as tmp:
        run_ffmpeg([*args, "-f", "matroska", str(tmp)], source)
    return out_path


def stream_summary(path: str | Path) -> list[dict]:
    """Streams of a file with their language tags and dispositions (for checks and tests)."""
    cmd = [_require("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams", str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = []
    for s in json.loads(r.stdout).get("streams", []):
        out.append({
            "index": s.get("index"),
            "type": s.get("codec_type"),
            "codec": s.get("codec_name"),
            "language": (s.get("tags") or {}).get("language"),
            "default": bool((s.get("disposition") or {}).get("default")),
        })
    return out

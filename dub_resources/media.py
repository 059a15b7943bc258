"""ffmpeg/ffprobe wrappers: probe, extract the work copies, mux the dubbed video. Errors name the file and the cause."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import DubError, InputError, one_line
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


# ffmpeg's closing lines that only say "something above failed": the cause is an earlier line.
_GENERIC = re.compile(
    r"^(conversion failed|error opening (input|output) files?|error parsing options|exiting normally|"
    r"to ignore this, add a trailing|failed to set value)", re.IGNORECASE)
_CONTEXT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")  # "[matroska,webm @ 0x55...] "


def _last_line(text: str) -> str:
    """The last meaningful line of ffmpeg/ffprobe stderr (generic closing lines skipped), on one line."""
    lines = [_CONTEXT.sub("", ln).strip() for ln in text.replace("\r", "\n").splitlines()]
    lines = [ln for ln in lines if ln]
    meaningful = [ln for ln in lines if not _GENERIC.match(ln)]
    return one_line((meaningful or lines or ["unknown error"])[-1])


def _run(cmd: list[str], what: str | Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    except OSError as exc:  # the tool cannot be executed at all
        raise DubError(f"{what}: cannot run {Path(cmd[0]).name} ({one_line(exc.strerror or exc)})") from None


def _ffprobe_json(p: Path, *show: str) -> dict:
    """ffprobe's JSON for `p`; InputError(p, cause) when the file is missing, not media, or the output is not JSON."""
    if not p.exists():
        raise InputError(p, "file not found")
    if not p.is_file():
        raise InputError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    r = _run([_require("ffprobe"), "-v", "error", "-print_format", "json", *show, str(p)], p)
    if r.returncode != 0:
        raise InputError(p, f"not a readable media file ({_strip_path(_last_line(r.stderr), p)})")
    try:
        data = json.loads(r.stdout or "{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InputError(p, "not a readable media file (ffprobe printed no JSON)")
    return data


def _strip_path(line: str, path: str | Path) -> str:
    """'/x/a.mkv: Invalid data ...' -> 'Invalid data ...' (the message names the file already)."""
    prefix = f"{path}: "
    return line[len(prefix):] if line.startswith(prefix) else line


def probe(path: str | Path) -> ProbeInfo:
    """Probe a media file; InputError when it is missing, unreadable or has no audio."""
    p = Path(path)
    data = _ffprobe_json(p, "-show_format", "-show_streams")
    try:
        streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
        audio = [s for s in streams if s.get("codec_type") == "audio"]
        video = [s for s in streams
                 if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")]
        if not audio:
            raise InputError(p, "no audio stream")
        fmt = data.get("format") or {}
        dur = float(fmt.get("duration") or audio[0].get("duration") or 0.0)
        if not dur > 0:  # also NaN
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
            streams=[{k: s.get(k) for k in ("index", "codec_type", "codec_name", "channels", "sample_rate")}
                     for s in streams],
        )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InputError(p, f"unexpected stream information ({one_line(exc, 120)})") from None


def _inputs(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-i"]


def _blame(line: str, inputs: list[str], what: str | Path) -> tuple[str, str]:
    """(file, cause) for an ffmpeg error line: the input it names (by path or by map index), else `what`."""
    for inp in inputs:
        if line.startswith(f"{inp}: "):
            return inp, line[len(inp) + 2:]
    m = re.match(r"Stream map '(\d+):([a-z])?", line)
    if m and "matches no streams" in line and int(m.group(1)) < len(inputs):
        kind = {"a": "audio", "v": "video", "s": "subtitle"}.get(m.group(2) or "", "matching")
        return inputs[int(m.group(1))], f"no {kind} stream ({line})"
    return str(what), line


def run_ffmpeg(args: list[str], what: str | Path) -> None:
    """Run ffmpeg quietly; on failure raise InputError(file, cause) on one line: the cause is the last meaningful line
    of ffmpeg's stderr, the file the input that line names (else `what`)."""
    cmd = [_require("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    r = _run(cmd, what)
    if r.returncode != 0:
        file, cause = _blame(_last_line(r.stderr), _inputs(args), what)
        raise InputError(file, f"ffmpeg failed: {cause}")


def _cannot_write(target: Path, exc: OSError) -> DubError:
    return DubError(f"{target}: cannot write ({one_line(exc.strerror or exc)})")


def extract_audio(src: str | Path, work_wav: Path, analysis_wav: Path) -> None:
    """Decode the first audio stream to a 48 kHz stereo work copy and a 16 kHz mono analysis copy (atomic writes)."""
    try:
        with atomic_path(work_wav, ".wav") as t48, atomic_path(analysis_wav, ".wav") as t16:
            run_ffmpeg(
                ["-i", str(src), "-map", "0:a:0", "-vn", "-sn", "-dn",
                 "-ac", "2", "-ar", str(WORK_SR), "-c:a", "pcm_s16le", "-f", "wav", str(t48),
                 "-map", "0:a:0", "-vn", "-sn", "-dn",
                 "-ac", "1", "-ar", str(ANALYSIS_SR), "-c:a", "pcm_s16le", "-f", "wav", str(t16)],
                src,
            )
    except OSError as exc:
        raise _cannot_write(Path(work_wav).parent, exc) from None


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
    that require it.

    The subtitle input is read as SRT explicitly (`-f srt`), so an SRT with zero cues (an episode without speech,
    or an empty file) still gives a valid, empty subtitle track: the stream layout never depends on the content.
    A subtitle path that does not exist is an InputError naming it."""
    codecs = {"opus": ["libopus", "160k"], "aac": ["aac", "192k"]}
    if audio_codec not in codecs:
        raise DubError(f"unknown dubbed audio codec {audio_codec!r}: use opus or aac")
    encoder, bitrate = codecs[audio_codec]
    args = ["-i", str(source), "-i", str(dubbed_wav)]
    if subtitles_srt is not None:
        args += ["-f", "srt", "-i", str(subtitles_srt)]
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
    try:
        with atomic_path(out_path, ".mkv") as tmp:
            run_ffmpeg([*args, "-f", "matroska", str(tmp)], source)
    except OSError as exc:
        raise _cannot_write(Path(out_path), exc) from None
    return out_path


def stream_summary(path: str | Path) -> list[dict]:
    """Streams of a file with their language tags and dispositions (for checks and tests); InputError(path, cause)
    on one line when the file is missing, empty or not media."""
    p = Path(path)
    data = _ffprobe_json(p, "-show_streams")
    out = []
    try:
        for s in data.get("streams") or []:
            out.append({
                "index": s.get("index"),
                "type": s.get("codec_type"),
                "codec": s.get("codec_name"),
                "language": (s.get("tags") or {}).get("language"),
                "default": bool((s.get("disposition") or {}).get("default")),
            })
    except (TypeError, AttributeError) as exc:
        raise InputError(p, f"unexpected stream information ({one_line(exc, 120)})") from None
    return out

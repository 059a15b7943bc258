"""Apertium (rule-based, Debian packages) translator: literal but fully offline, e.g. apertium-eng-spa."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from ..engine import EngineInfo
from ..errors import DubError, EngineUnavailable, UnsupportedLanguagePair
from .common import ISO639_3, norm_lang, translate_nonempty

# Unknown-word (*), generation-error (#) and transfer-error (@) marks put in front of a word.
_MARKS = re.compile(r"(?<![\w])[*#@]+(?=\w)")
CHUNK_LINES = 400


def _datadir() -> Path:
    return Path(os.environ.get("APERTIUM_DATADIR", "/usr/share/apertium"))


@functools.lru_cache(maxsize=1)
def apertium_modes() -> frozenset[str]:
    """Installed translation modes ('eng-spa', ...): `apertium -l`, else the modes directory."""
    exe = shutil.which("apertium")
    if exe is None:
        return frozenset()
    try:
        r = subprocess.run([exe, "-l"], capture_output=True, text=True, timeout=30)
        modes = {ln.strip() for ln in r.stdout.splitlines() if ln.strip() and " " not in ln.strip()}
    except (OSError, subprocess.SubprocessError):
        modes = set()
    if not modes:
        modes = {p.stem for p in (_datadir() / "modes").glob("*.mode")}
    return frozenset(modes)


@functools.lru_cache(maxsize=1)
def _version() -> str:
    exe = shutil.which("apertium")
    if exe is None:
        return "missing"
    try:
        r = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10)
        return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def _dpkg_versions() -> dict[str, str]:
    """Installed Debian package versions (name -> version) from dpkg's status file; {} elsewhere."""
    out: dict[str, str] = {}
    try:
        text = Path("/var/lib/dpkg/status").read_text("utf-8", errors="replace")
    except OSError:
        return out
    for block in text.split("\n\n"):
        fields = dict(ln.split(": ", 1) for ln in block.splitlines() if ": " in ln and not ln.startswith(" "))
        if fields.get("Package") and "installed" in fields.get("Status", "") and fields.get("Version"):
            out[fields["Package"]] = fields["Version"]
    return out


@functools.lru_cache(maxsize=64)
def mode_data(mode: str) -> str:
    """What a mode's linguistic data is: '<package> <version>' (the Debian package of the data folder its mode
    file names), else a digest of the data files' names, sizes and mtimes. Part of the engine's version, so a
    new dictionary re-runs the translation."""
    mode_file = _datadir() / "modes" / f"{mode}.mode"
    try:
        text = mode_file.read_text("utf-8", errors="replace")
    except OSError:
        return "data unknown"
    files = sorted(set(re.findall(r"'(/[^']+)'", text)))
    dirs = sorted({Path(f).parent.name for f in files if Path(f).parent.name.startswith("apertium-")})
    versions = _dpkg_versions()
    if dirs and all(d in versions for d in dirs):
        return ", ".join(f"{d} {versions[d]}" for d in dirs)
    import hashlib

    h = hashlib.sha256()
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{'+'.join(dirs) or mode} data {h.hexdigest()[:12]}"


def mode_for(source: str, target: str) -> str | None:
    """Apertium mode for an ISO 639-1 (or 3-letter) pair, or None if that pair is not installed."""
    s, t = norm_lang(source), norm_lang(target)
    modes = apertium_modes()
    for cand in (f"{ISO639_3.get(s, s)}-{ISO639_3.get(t, t)}", f"{s}-{t}"):
        if cand in modes:
            return cand
    return None


def strip_marks(text: str) -> str:
    """Remove apertium's *unknown / #generation / @transfer marks (also on words that had them in the source)."""
    return _MARKS.sub("", text)


class ApertiumTranslator:
    """Batches all sentences through one `apertium` process per chunk, one paragraph per sentence.

    Sentences are joined by blank lines: in txt format a blank line is a paragraph break, which apertium treats as a
    hard sentence boundary and copies through as a superblank, so output paragraph k is the translation of input k.
    (`-f line` would be the obvious choice but it drops sentence-final periods.) The count is checked and a chunk
    whose count mismatches is redone sentence by sentence (recorded as a fallback).
    """

    name = "apertium"

    def __init__(self) -> None:
        self.exe = shutil.which("apertium")
        if self.exe is None:
            raise EngineUnavailable("apertium not found on PATH (apt-get install apertium apertium-eng-spa)")
        self.info = EngineInfo("apertium", _version(), [])

    def supports(self, source: str, target: str) -> bool:
        return mode_for(source, target) is not None

    def version_for(self, source: str, target: str) -> str:
        """The binary's version and the pair's data package: '<Apertium 3.8.3> (<apertium-es-pt 1.1.6-1>)'."""
        mode = mode_for(source, target)
        return f"{self.info.version} ({mode_data(mode)})" if mode else self.info.version

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        mode = mode_for(source, target)
        if mode is None:
            installed = ", ".join(sorted(apertium_modes())) or "none"
            raise UnsupportedLanguagePair(source, target, [f"apertium (installed: {installed})"])
        self.info.name = f"apertium:{mode}"
        return translate_nonempty(texts, lambda lines: self._translate_lines(lines, mode))

    def _translate_lines(self, lines: list[str], mode: str) -> list[str]:
        out: list[str] = []
        for i in range(0, len(lines), CHUNK_LINES):
            chunk = lines[i:i + CHUNK_LINES]
            res = self._run(chunk, mode)
            if len(res) != len(chunk):
                self.info.fallbacks.append(
                    f"apertium returned {len(res)} lines for {len(chunk)}: translated that chunk line by line")
                res = [" ".join(self._run([ln], mode)) for ln in chunk]
            out += [" ".join(strip_marks(r).split()) for r in res]
        return out

    def _run(self, lines: list[str], mode: str) -> list[str]:
        data = "\n\n".join(lines) + "\n"
        try:
            r = subprocess.run([self.exe, "-u", mode], input=data, capture_output=True, text=True,
                               timeout=60 + len(data) / 500)
        except subprocess.TimeoutExpired as exc:
            raise DubError(f"apertium {mode} timed out on {len(lines)} lines") from exc
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise DubError(f"apertium {mode} failed: {last}")
        text = r.stdout
        if text.endswith("\n"):
            text = text[:-1]
        return text.split("\n\n")

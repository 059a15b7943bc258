"""Episode registration: which source file an episode partition dubs, and in which languages.

Written by the CLI and the inbox sensor before any run, read by the source asset, so the same partition can be
materialized later from the UI without run config.

Each series directory also holds a series record (DUB_OUTPUT/<series>/series.json, {"slug", "title"}): the title
the slug was first registered for. Registering a source under a slug that belongs to a different title is refused,
so two shows can never end up sharing one series (and one voice memory).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import unicodedata
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterator

from .errors import DubError, one_line
from .manifest import read_json, write_json_atomic
from .paths import EpisodePaths, SeriesPaths, slugify


@dataclass
class Registration:
    series: str
    episode: str
    source_path: str
    source_lang: str
    target_lang: str
    size: int
    mtime: float
    registered_at: str
    series_title: str = ""  # the series' original title; "" (old files) becomes the slug in __post_init__

    def __post_init__(self) -> None:
        if not self.series_title:
            self.series_title = self.series  # registrations written before titles were recorded

    def to_dict(self) -> dict:
        return asdict(self)


def _read_record(path: Path) -> dict | None:
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise DubError(f"{path}: unreadable series record ({one_line(exc, 120)})") from None
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("title"), str):
        raise DubError(f"{path}: damaged series record (no title)")
    return data


@contextlib.contextmanager
def _series_record_lock(record: Path) -> Iterator[None]:
    """Exclusive flock beside the series record: two first registrations (CLI and inbox sensor) cannot both win.
    Its own lock file, so it never waits on a running series stage."""
    record.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(record.with_name(f".{record.name}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def claim_series(output_dir: Path, series: str, title: str | None = None) -> str:
    """Record that slug `series` belongs to `title` (NFC) and return the series' recorded title.

    `title=None` means the caller named the slug directly (e.g. `--series my-show`): it joins whatever series the slug
    already is (a new record gets the slug as its title). A record whose title is the slug itself is upgraded to a
    real title that slugifies to it. Any other mismatch raises a one-line DubError and changes nothing.
    """
    rec_path = SeriesPaths(output_dir, series).series_record  # validates the slug
    title = unicodedata.normalize("NFC", title) if title is not None else None
    with _series_record_lock(rec_path):
        rec = _read_record(rec_path)
        if rec is None:
            recorded = title if title is not None else series
            write_json_atomic(rec_path, {"slug": series, "title": recorded})
            return recorded
        recorded = rec["title"]
        if title is None or title == recorded:
            return recorded
        if recorded == series and slugify(title) == series:
            write_json_atomic(rec_path, {"slug": series, "title": title})
            return title
    raise DubError(
        f"series {series!r} already belongs to the title {one_line(repr(recorded), 100)}, not "
        f"{one_line(repr(title), 100)}: register this source under another series name (--series)"
    )


def register_episode(
    output_dir: Path,
    series: str,
    episode: str,
    source: str | Path,
    source_lang: str,
    target_lang: str,
    series_title: str | None = None,
) -> Registration:
    """Register `source` as episode `episode` of `series`. `series_title` is the show's original title (e.g. the
    inbox folder name the slug came from); None means the slug itself. A slug already recorded for a different
    title is refused with a DubError (see claim_series)."""
    paths = EpisodePaths(output_dir, series, episode)  # validates both keys: InvalidName before any file is touched
    src = Path(source).expanduser().resolve()
    if not src.is_file():
        raise DubError(f"{src}: file not found")
    st = src.stat()
    title = claim_series(paths.output_dir, series, series_title)
    reg = Registration(
        series=series, episode=episode, source_path=str(src), source_lang=source_lang, target_lang=target_lang,
        size=st.st_size, mtime=st.st_mtime, registered_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        series_title=title,
    )
    write_json_atomic(paths.registration, reg.to_dict())
    return reg


def load_registration(output_dir: Path, series: str, episode: str) -> Registration:
    p = EpisodePaths(output_dir, series, episode).registration
    try:
        data = read_json(p)
    except (OSError, ValueError) as exc:
        raise DubError(f"{p}: unreadable registration ({one_line(exc, 120)}); register the episode again") from None
    if not data:
        raise DubError(
            f"{p}: episode {series}/{episode} is not registered; run `dub episode FILE --series {series} "
            f"--episode {episode}` or drop the file into the inbox"
        )
    known = {f.name for f in fields(Registration)}
    try:
        return Registration(**{k: v for k, v in data.items() if k in known})
    except (TypeError, AttributeError) as exc:
        raise DubError(f"{p}: damaged registration ({one_line(exc, 120)}); register the episode again") from None

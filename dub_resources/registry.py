"""Episode registration: which source file an episode partition dubs, and in which languages.

Written by the CLI and the inbox sensor before any run, read by the source asset, so the same partition can be
materialized later from the UI without run config.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import DubError
from .manifest import read_json, write_json_atomic
from .paths import EpisodePaths, validate_slug


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

    def to_dict(self) -> dict:
        return asdict(self)


def register_episode(
    output_dir: Path, series: str, episode: str, source: str | Path, source_lang: str, target_lang: str
) -> Registration:
    validate_slug("series", series)
    validate_slug("episode", episode)
    src = Path(source).expanduser().resolve()
    if not src.is_file():
        raise DubError(f"{src}: file not found")
    st = src.stat()
    reg = Registration(
        series=series, episode=episode, source_path=str(src), source_lang=source_lang, target_lang=target_lang,
        size=st.st_size, mtime=st.st_mtime, registered_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    write_json_atomic(EpisodePaths(output_dir, series, episode).registration, reg.to_dict())
    return reg


def load_registration(output_dir: Path, series: str, episode: str) -> Registration:
    p = EpisodePaths(output_dir, series, episode).registration
    data = read_json(p)
    if not data:
        raise DubError(
            f"{p}: episode {series}/{episode} is not registered; run `dub episode FILE --series {series} "
            f"--episode {episode}` or drop the file into the inbox"
        )
    return Registration(**data)

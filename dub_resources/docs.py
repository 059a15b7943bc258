"""The README's generated tables (stages, settings), between `<!-- generated:NAME -->` markers.

`python -m dub_resources.docs` rewrites them in place; a test fails when the README is out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .settings import REPO_ROOT, settings_table_md
from .stages import stage_table_md

SECTIONS = {"stages": stage_table_md, "settings": settings_table_md}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md: no <!-- generated:{name} --> section")
        text = pattern.sub(lambda m: m.group(1) + make() + m.group(2), text)
    return text


def main() -> int:
    readme = REPO_ROOT / "README.md"
    old = readme.read_text("utf-8")
    new = render(old)
    if "--check" in sys.argv:
        return 0 if new == old else 1
    if new != old:
        from .manifest import write_text_atomic

        write_text_atomic(readme, new)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every stage of the pipeline, described once, in order. dub_assets builds the Dagster assets from `STAGES`; the
CLI, the bench and the tests select runs by these names."""

from __future__ import annotations

from .base import Check, Plan, Stage, StageContext, StageResult, upstream_fingerprint
from .listening import DIARIZATION, SOURCE, STEMS, TRANSCRIPT, TRANSLATION, VOICE_REFS
from .series import VOICE_MEMORY
from .speaking import DUBBED_VIDEO, FINAL_MIX, PREVIEW_MIX, TTS_PASS1, TTS_PASS2

PASS1 = (SOURCE, STEMS, DIARIZATION, TRANSCRIPT, TRANSLATION, VOICE_REFS, TTS_PASS1, PREVIEW_MIX)
SERIES = (VOICE_MEMORY,)
PASS2 = (TTS_PASS2, FINAL_MIX, DUBBED_VIDEO)
STAGES: dict[str, Stage] = {s.name: s for s in (*PASS1, *SERIES, *PASS2)}


def manifest_of(name: str, ctx: StageContext):
    """The manifest path of stage `name` in ctx's partition (an episode stage's upstream series stage has none
    there: what it reads of it is fingerprinted through `extra_inputs`)."""
    st = STAGES[name]
    if st.partition == "series" and ctx.episode is not None:
        return None
    return st.manifest_path(ctx)


def stage_table_md() -> str:
    """The README's stage table, generated from the descriptions."""
    rows = ["| stage | partition | reads | writes | isolated | checks |", "|---|---|---|---|---|---|"]
    for s in STAGES.values():
        rows.append(f"| `{s.name}` | {s.partition} | {', '.join(s.upstream) or 'the registered source file'} | "
                    f"{s.outputs} | {'yes' if s.isolate else 'no'} | {', '.join(c.name for c in s.checks) or '-'} |")
    return "\n".join(rows) + "\n"


__all__ = ["Check", "PASS1", "PASS2", "Plan", "SERIES", "STAGES", "Stage", "StageContext", "StageResult",
           "manifest_of", "stage_table_md", "upstream_fingerprint"]

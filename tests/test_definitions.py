"""The code location loads, validates, and has the asset graph the product promises."""

import subprocess
import sys
from pathlib import Path

from dub_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_asset_graph_shape():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"source_audio", "stems", "diarization", "transcript", "translation", "voice_refs", "tts_pass1",
                    "preview_mix", "voice_memory", "tts_pass2", "final_mix", "dubbed_video"}

    def parents(k):
        return {p.to_user_string() for p in graph.get(__import__("dagster").AssetKey(k)).parent_keys}

    assert parents("diarization") == {"stems"}
    assert parents("voice_memory") == {"voice_refs"}
    assert parents("tts_pass2") >= {"tts_pass1", "voice_memory", "voice_refs"}
    assert parents("dubbed_video") >= {"final_mix"}
    for job in ("pass1_job", "voice_memory_job", "pass2_job"):
        assert defs.resolve_job_def(job) is not None


def test_dagster_definitions_validate():
    exe = Path(sys.executable).parent / "dagster"
    r = subprocess.run([str(exe), "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

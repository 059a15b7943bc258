"""`dub bench --quick` on a tiny subset of the eval layout writes the JSON contract with every section present."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _asr_subset(eval_dir, dst, n):
    """dst/asr_en with the first n items of the eval set (transcripts.tsv + symlinked audio)."""
    (dst / "asr_en").mkdir(parents=True)
    with open(eval_dir / "asr_en" / "transcripts.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))[:n]
    with open(dst / "asr_en" / "transcripts.tsv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        os.symlink(eval_dir / "asr_en" / f"{r['id']}.flac", dst / "asr_en" / f"{r['id']}.flac")


def _subset(eval_dir, dst):
    (dst / "separation").mkdir(parents=True)
    os.symlink(eval_dir / "separation" / "mix01", dst / "separation" / "mix01")
    (dst / "diarization_ami").mkdir()
    for ext in ("wav", "rttm", "uem"):
        os.symlink(eval_dir / "diarization_ami" / f"dev00.{ext}", dst / "diarization_ami" / f"dev00.{ext}")
    _asr_subset(eval_dir, dst, 2)
    for split, names in (("episode_a", ["ls1688", "ls367"]), ("episode_b", ["ls1688", "ls367"]),
                         ("distractors", ["ls831"])):
        (dst / "speakers" / split).mkdir(parents=True)
        for n in names:
            os.symlink(eval_dir / "speakers" / split / n, dst / "speakers" / split / n)


def test_bench_quick_json_contract(tmp_path, eval_dir):
    data = tmp_path / "data"
    _subset(eval_dir, data)
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "dub_assets.cli", "bench", "--quick", "--data", str(data), "--json",
                        str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["absent"] == []
    for section, keys in {
        "separation": ["si_sdri_db"], "diarization": ["der", "speaker_count_correct"], "asr": ["wer"],
        "speakers": ["accuracy", "distractor_false_accept_rate"],
        "speed": ["rtf_end_to_end", "peak_rss_mb", "pass2_rerun_fraction", "unchanged_rerun_fraction"],
    }.items():
        sec = res[section]
        assert sec["engine"] and sec["rows"], section
        for k in keys:
            assert isinstance(sec[k], (int, float)), (section, k)
    assert res["separation"]["si_sdri_db"] > 2.0  # GTCRN improves the dialogue on mix01
    assert 0.0 <= res["diarization"]["der"] < 0.6
    assert res["asr"]["wer"] < 0.2
    assert res["speakers"]["accuracy"] == 1.0
    assert 0 < res["speed"]["pass2_rerun_fraction"] < 1 and res["speed"]["unchanged_rerun_fraction"] < 0.5
    assert "section" in r.stdout and "si_sdri_db" in r.stdout  # the printed table


def test_bench_reports_absent_sections(tmp_path, eval_dir):
    data = tmp_path / "data"
    _asr_subset(eval_dir, data, 1)
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, "-m", "dub_assets.cli", "bench", "--quick", "--data", str(data), "--json",
                        str(out), "--sections", "separation,diarization,asr,speakers"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert set(res["absent"]) == {"separation", "diarization", "speakers"}
    assert "asr" in res and "speed" not in res
    assert "absent sections" in r.stdout

"""`dub bench --quick` on a tiny subset of the eval layout writes the JSON contract with every section present."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive(v, what) -> None:
    assert _number(v) and v > 0, (what, v)


def _mixture_si_sdr(eval_dir, mix: str) -> float:
    from dub_resources.audio import read_audio
    from dub_resources.separation import si_sdr

    speech, sr = read_audio(eval_dir / "separation" / mix / "speech.wav", mono=True)
    mixture, _ = read_audio(eval_dir / "separation" / mix / "mixture.wav", sr=sr, mono=True)
    return si_sdr(mixture, speech)


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
    (dst / "episodes" / "shared-show").mkdir(parents=True)  # lines: one episode (--quick takes the first)
    for ext in ("wav", "rttm", "uem", "json"):
        os.symlink(eval_dir / "episodes" / "shared-show" / f"s01e01.{ext}",
                   dst / "episodes" / "shared-show" / f"s01e01.{ext}")
    (dst / "translation").mkdir()  # translation: a pair with routes, a direct one and one with no offline engine
    for pair in ("en-es", "en-pt", "en-de"):
        os.symlink(eval_dir / "translation" / f"{pair}.tsv", dst / "translation" / f"{pair}.tsv")


def test_bench_quick_json_contract(tmp_path, eval_dir):
    data = tmp_path / "data"
    _subset(eval_dir, data)
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "dub_assets.cli", "bench", "--quick", "--data", str(data), "--json",
                        str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["absent"] == []
    assert res["quick"] is True and res["data"] == str(data)
    assert isinstance(res["machine"], str) and res["machine"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", res["started_at"])
    _positive(res["wall_s"], "wall_s")
    for section, keys in {
        "separation": ["si_sdri_db", "si_sdri_db_min", "background_si_sdri_db", "rtf"],
        "diarization": ["der", "missed", "false_alarm", "confusion", "speaker_count_correct", "files"],
        "asr": ["wer", "rtf"],
        "speakers": ["accuracy", "distractor_false_accept_rate", "eer", "threshold"],
        "speed": ["rtf_end_to_end", "peak_rss_mb", "pass2_rerun_fraction", "unchanged_rerun_fraction"],
    }.items():
        sec = res[section]
        assert sec["engine"] and sec["rows"], section
        for k in keys:
            assert _number(sec[k]), (section, k, sec[k])
        _positive(sec["wall_s"], (section, "wall_s"))
    for section in ("separation", "diarization", "asr", "speakers"):  # engine = name + version
        eng = res[section]["engine"]
        assert isinstance(eng["name"], str) and eng["name"], (section, eng)
        assert isinstance(eng["version"], str) and eng["version"] not in ("", "unknown"), (section, eng)

    sep = res["separation"]
    assert [r["item"] for r in sep["rows"]] == ["mix01"]  # one row per mixture of the data folder
    row = sep["rows"][0]
    assert row["separated"] is True
    assert row["si_sdri_db"] == pytest.approx(sep["si_sdri_db"], abs=1e-3) == pytest.approx(sep["si_sdri_db_min"])
    assert row["si_sdri_db"] == pytest.approx(row["si_sdr_db"] - _mixture_si_sdr(eval_dir, "mix01"), abs=0.01)
    assert sep["si_sdri_db"] > 2.0  # the default chain improves the dialogue on mix01 (measured +7.3 dB)
    _positive(sep["rtf"], "separation rtf")

    dia = res["diarization"]
    assert dia["files"] == 1 and [r["item"] for r in dia["rows"]] == ["dev00"]
    row = dia["rows"][0]
    assert row["speakers_ref"] == 2  # dev00's reference has two speakers
    assert isinstance(row["speakers_hyp"], int) and row["speakers_hyp"] >= 1
    assert row["count_correct"] is (row["speakers_hyp"] == 2)
    assert dia["speaker_count_correct"] == int(row["count_correct"])
    for k in ("der", "missed", "false_alarm", "confusion"):
        assert dia[k] >= 0.0 and dia[k] == pytest.approx(row[k], abs=1e-4), k  # pooled over one file = the file
    assert dia["der"] == pytest.approx(dia["missed"] + dia["false_alarm"] + dia["confusion"], abs=3e-4)
    assert dia["der"] < 0.6
    assert "collar 0" in dia["scoring"] and "UEM" in dia["scoring"]
    assert "long" not in dia  # --quick leaves the joined-clips run out

    asr = res["asr"]
    assert [r["item"] for r in asr["rows"]] == ["ljspeech_LJ001-0001", "ljspeech_LJ001-0002"]  # the subset, in order
    assert all(r["set"] == "asr_en" and 0.0 <= r["wer"] and r["hyp"].strip() for r in asr["rows"])
    assert 0.0 <= asr["wer"] < 0.2
    assert isinstance(asr["normaliser"], str) and asr["normaliser"]
    assert "cer_by_lang" not in asr  # no asr_multilingual folder in the data

    spk = res["speakers"]
    assert 0.0 < spk["threshold"] < 1.0
    assert len(spk["rows"]) == 7  # 3 + 3 episode-B files of the two enrolled speakers + 1 distractor file
    assert {r["truth"] for r in spk["rows"]} == {"ls1688", "ls367", None}
    assert all(-1.0 <= r["score"] <= 1.0 and isinstance(r["correct"], bool) for r in spk["rows"])
    assert spk["accuracy"] == 1.0 and spk["distractor_false_accept_rate"] == 0.0
    assert 0.0 <= spk["eer"] <= 1.0

    speed = res["speed"]  # times are `dub bench`'s job to report, not this test's to bound: only the contract here
    assert speed["measured_on"] == "clip_30s" and [r["item"] for r in speed["rows"]] == ["clip_30s"]
    row = speed["rows"][0]
    assert 25.0 < row["duration_s"] < 35.0  # the demo clip
    for k in ("rtf_end_to_end", "peak_rss_mb", "pass2_rerun_fraction", "unchanged_rerun_fraction"):
        _positive(speed[k], k)
        assert speed[k] == row[k], k
    assert row["rtf_end_to_end"] == pytest.approx(row["full_wall_s"] / row["duration_s"], rel=0.01)
    assert row["pass2_rerun_fraction"] == pytest.approx(row["pass2_rerun_s"] / row["full_wall_s"], rel=0.01)
    assert row["unchanged_rerun_fraction"] == pytest.approx(row["unchanged_rerun_s"] / row["full_wall_s"], rel=0.01)
    assert isinstance(row["stage_isolation"], bool)
    from dub_assets.assets import ALL_ASSETS

    stages = {a.key.to_user_string() for a in ALL_ASSETS}  # one entry per asset of the pipeline
    assert len(stages) == 12 and {"stems", "diarization", "tts_pass2", "voice_memory"} <= stages
    assert set(row["stages"]) == stages and set(speed["engine"]) == stages
    for name, st in row["stages"].items():  # every stage really ran in the full run and recorded its manifest
        _positive(st["wall_s"], (name, "wall_s"))
        _positive(st["peak_rss_mb"], (name, "peak_rss_mb"))
        assert speed["engine"][name] == st["engine"], name
    for name in ("stems", "diarization", "transcript", "translation", "tts_pass1", "tts_pass2", "voice_memory"):
        assert isinstance(row["stages"][name]["engine"], str) and row["stages"][name]["engine"], name
    lines = res["lines"]  # ASR + diarization of the episode by the pipeline's engines, lines scored vs the RTTM
    assert lines["episodes"] == 1 and [r["item"] for r in lines["rows"]] == ["shared-show/s01e01"]
    assert set(lines["engine"]) == {"asr", "diarization"} and lines["engine"]["asr"]["name"]
    row = lines["rows"][0]
    assert row["ref_speakers"] == 3 and row["sentences"] >= 1 and row["lines"] >= row["ref_speakers"]
    for k in ("speaker_purity", "cross_speaker_lines", "split_sentences"):
        assert _number(lines[k]) and lines[k] == row[k], k  # pooled over one episode = the episode
    assert 0.9 <= lines["speaker_purity"] <= 1.0 and lines["cross_speaker_lines"] <= 1
    assert 0.0 <= lines["split_sentences"] <= 0.2
    assert lines["params"]["max_line_s"] > 0 and row["max_line_s"] <= lines["params"]["max_line_s"] + 1e-6

    tr = res["translation"]  # the translator the pipeline chooses, sacrebleu corpus chrF / BLEU per pair
    assert tr["unavailable"] == ["en-de"] and tr["en-de"]["available"] is False
    assert "en->de" in tr["en-de"]["error"] and tr["en-de"]["engine"] is None
    assert [r["item"] for r in tr["rows"]] == ["en-de", "en-es", "en-pt"]
    for pair in ("en-es", "en-pt"):
        p = tr[pair]
        assert p["available"] is True and p["lines"] == 20  # --quick: the first 20 lines
        for k in ("chrf", "bleu", "lines_per_s"):
            _positive(p[k], (pair, k))
        assert p["engine"]["name"] == tr["engine"][pair] and p["engine"]["version"]
        assert sum(p["routes"].values()) == 20 and p["untranslated"] <= 2
        assert "nc:6" in p["signature"]["chrf"] and "tok:13a" in p["signature"]["bleu"]
        assert "no_edits" not in p  # --quick leaves the comparison out
    assert tr["en-pt"]["engine"]["name"] == "chain:en>pt" and tr["en-pt"]["chrf"] > 60
    assert tr["en-es"]["chrf"] > 50 and tr["en-es"]["engine"]["name"].startswith(("consensus:", "chain:"))
    assert "sacrebleu" in tr["scoring"]
    assert "section" in r.stdout and "si_sdri_db" in r.stdout  # the printed table
    assert "speaker_purity" in r.stdout and "en-es chrF / BLEU" in r.stdout and "en-de" in r.stdout


def test_bench_reports_absent_sections(tmp_path, eval_dir):
    data = tmp_path / "data"
    _asr_subset(eval_dir, data, 1)
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, "-m", "dub_assets.cli", "bench", "--quick", "--data", str(data), "--json",
                        str(out), "--sections", "separation,diarization,asr,speakers"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert set(res["absent"]) == {"separation", "diarization", "speakers"}
    assert "asr" in res and "speed" not in res
    assert "absent sections" in r.stdout

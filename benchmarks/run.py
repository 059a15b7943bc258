"""`dub bench`: run each section present in the data folder, print a table, write the JSON contract."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dub_resources.audio import read_audio
from dub_resources.settings import REPO_ROOT, Settings

from . import sections

SECTIONS = {
    "separation": ("separation", sections.bench_separation),
    "diarization": ("diarization_ami", sections.bench_diarization),
    "asr": ("asr_en", sections.bench_asr),
    "speakers": ("speakers", sections.bench_speakers),
    "lines": ("episodes", sections.bench_lines),
    "translation": ("translation", sections.bench_translation),
}


def build_long_episode(data: Path, out: Path, min_s: float) -> Path:
    """>= min_s of real speech: the eval audio concatenated (and repeated) into one 16 kHz wav, written in pieces."""
    srcs = sorted((data / "diarization_ami").glob("*.wav")) + sorted((data / "asr_en").glob("*.flac")) + \
        sorted((data / "separation").glob("*/mixture.wav"))
    if not srcs:
        raise SystemExit(f"{data}: no audio to build a long episode from")
    import soundfile as sf

    total, i = 0.0, 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(out), "w", samplerate=16000, channels=1, subtype="PCM_16") as fh:
        while total < min_s:
            x, _ = read_audio(srcs[i % len(srcs)], sr=16000, mono=True)
            fh.write(np.concatenate([x, np.zeros(8000, dtype=np.float32)]))
            total += x.size / 16000 + 0.5
            i += 1
    return out


def bench_speed(data: Path, settings: Settings, quick: bool, long_minutes: float = 20.0) -> dict:
    from dub_resources.demo import build_demo_episode

    out: dict = {"rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        clips = [("clip_30s", build_demo_episode(Path(tmp) / "demo"))]
        if not quick and long_minutes > 0:
            clips.append((f"episode_{long_minutes:g}min",
                          build_long_episode(data, Path(tmp) / "long" / "long.wav", long_minutes * 60)))
        for name, media_path in clips:
            r = subprocess.run([sys.executable, "-m", "benchmarks.pipeline_run", "--media", str(media_path),
                                "--out", str(Path(tmp) / f"out_{name}")], capture_output=True, text=True,
                               cwd=REPO_ROOT)
            if r.returncode != 0:
                raise SystemExit(f"speed bench failed on {name}: {r.stderr.strip().splitlines()[-1:]}")
            row = json.loads(r.stdout.strip().splitlines()[-1])
            row["item"] = name
            out["rows"].append(row)
    main_row = out["rows"][-1]
    out.update({k: main_row[k] for k in ("rtf_end_to_end", "peak_rss_mb", "pass2_rerun_fraction",
                                         "unchanged_rerun_fraction")})
    out["measured_on"] = main_row["item"]
    out["engine"] = {k: v.get("engine") for k, v in main_row["stages"].items()}
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def print_table(result: dict) -> None:
    heads = {
        "separation": ["si_sdri_db", "si_sdri_db_min", "background_si_sdri_db", "rtf"],
        "diarization": ["der", "missed", "false_alarm", "confusion", "speaker_count_correct", "files"],
        "asr": ["wer", "rtf", "cer_by_lang"],
        "speakers": ["accuracy", "distractor_false_accept_rate", "eer", "threshold"],
        "speed": ["rtf_end_to_end", "peak_rss_mb", "pass2_rerun_fraction", "unchanged_rerun_fraction"],
        "lines": ["speaker_purity", "cross_speaker_lines", "split_sentences", "lines", "sentences"],
    }
    print(f"{'section':<12} {'figure':<30} value")
    for sec, keys in heads.items():
        if sec not in result:
            continue
        eng = result[sec].get("engine")
        ename = eng.get("name") if isinstance(eng, dict) and "name" in eng else "(per stage)" if eng else "-"
        for k in keys:
            if k in result[sec]:
                print(f"{sec:<12} {k:<30} {_fmt(result[sec][k])}")
        if sec == "diarization" and isinstance(result[sec].get("long"), dict):
            lg = result[sec]["long"]
            print(f"{sec:<12} {'long (concatenated clips)':<30} der {_fmt(lg['der'])} (missed {_fmt(lg['missed'])}, "
                  f"fa {_fmt(lg['false_alarm'])}, conf {_fmt(lg['confusion'])}), speakers {lg['est_speakers']}/"
                  f"{lg['true_speakers']}, {_fmt(lg['duration_s'])} s in {_fmt(lg['wall_s'])} s")
        print(f"{sec:<12} {'engine':<30} {ename} {eng.get('version', '') if isinstance(eng, dict) else ''}")
    tr = result.get("translation")
    if isinstance(tr, dict):
        for row in tr.get("rows", []):
            pair = row["item"]
            if row.get("available"):
                base = row.get("no_edits")
                extra = f" (no edits {base['chrf']:.1f}/{base['bleu']:.1f})" if base else ""
                print(f"{'translation':<12} {pair + ' chrF / BLEU':<30} {row['chrf']:.1f} / {row['bleu']:.1f}{extra}, "
                      f"{row['lines_per_s']:.1f} lines/s, {row['engine']}")
            else:
                print(f"{'translation':<12} {pair:<30} unavailable: {row.get('error', '')}")
    if result.get("absent"):
        print(f"absent sections: {', '.join(result['absent'])}")


def main(args: argparse.Namespace) -> int:
    data = Path(args.data) if args.data else REPO_ROOT.parent / "shared" / "eval"
    if not data.exists():
        print(f"dub bench: error: {data}: data folder not found", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    t0 = time.perf_counter()
    result: dict = {"data": str(data), "quick": bool(args.quick), "machine": platform.platform(),
                    "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "absent": []}
    wanted = set(args.sections.split(",")) if getattr(args, "sections", None) else set(SECTIONS) | {"speed"}
    for key, (folder, fn) in SECTIONS.items():
        if key not in wanted:
            continue
        if not (data / folder).exists():
            result["absent"].append(key)
            continue
        t = time.perf_counter()
        result[key] = fn(data, settings, args.quick)
        result[key]["wall_s"] = round(time.perf_counter() - t, 2)
        print(f"bench: {key} done in {result[key]['wall_s']}s", file=sys.stderr)
    if "speed" in wanted:
        t = time.perf_counter()
        result["speed"] = bench_speed(data, settings, args.quick, float(getattr(args, "long_minutes", 20.0)))
        result["speed"]["wall_s"] = round(time.perf_counter() - t, 2)
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    print_table(result)
    if args.json:
        from dub_resources.manifest import write_json_atomic

        write_json_atomic(args.json, result)
        print(f"bench: wrote {args.json}", file=sys.stderr)
    return 0

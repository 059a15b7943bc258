"""One function per benchmark section. Each returns a dict with `engine`, `rows` and its headline figures.

Figures are computed by kept libraries (pyannote.metrics for DER, jiwer for WER/CER) through dub_resources'
scorers, so the tests, the bench and the product score the same way.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from dub_resources.audio import read_audio, write_audio
from dub_resources.settings import Settings


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def bench_separation(data: Path, settings: Settings, quick: bool) -> dict:
    from dub_resources.separation import make_separator, separate_with_fallback
    from dub_resources.separation.metrics import si_sdr

    mixes = sorted(p for p in (data / "separation").iterdir() if (p / "mixture.wav").exists())
    if quick:
        mixes = mixes[:3]
    sep = make_separator(settings)
    rows, engine = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for m in mixes:
            mix, sr = read_audio(m / "mixture.wav", mono=True)
            speech, _ = read_audio(m / "speech.wav", sr=sr, mono=True)
            bg, _ = read_audio(m / "background.wav", sr=sr, mono=True)
            src = write_audio(Path(tmp) / m.name / "source_48k.wav",
                              np.repeat(read_audio(m / "mixture.wav", sr=48000, mono=True)[0][:, None], 2, 1), 48000)
            t0 = time.perf_counter()
            res = separate_with_fallback(sep, src, Path(tmp) / m.name / "stems")
            wall = time.perf_counter() - t0
            engine = res.engine
            d16, _ = read_audio(Path(tmp) / m.name / "stems" / "dialogue_16k.wav", sr=sr, mono=True)
            b16, _ = read_audio(res.background_wav, sr=sr, mono=True)
            row = {"item": m.name,
                   "si_sdr_db": si_sdr(d16, speech), "si_sdri_db": si_sdr(d16, speech) - si_sdr(mix, speech),
                   "background_si_sdr_db": si_sdr(b16, bg),
                   "background_si_sdri_db": si_sdr(b16, bg) - si_sdr(mix, bg),
                   "separated": res.separated, "rtf": wall / (mix.size / sr)}
            rows.append({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    return {"engine": engine.to_dict() if engine else None, "rows": rows,
            "si_sdri_db": _mean([r["si_sdri_db"] for r in rows]),
            "si_sdri_db_min": min((r["si_sdri_db"] for r in rows), default=None),
            "background_si_sdri_db": _mean([r["background_si_sdri_db"] for r in rows]),
            "rtf": _mean([r["rtf"] for r in rows])}


def bench_diarization(data: Path, settings: Settings, quick: bool) -> dict:
    from dub_resources.diarization import make_diarizer
    from dub_resources.diarization.metrics import der, load_rttm, pooled_der

    d = data / "diarization_ami"
    uris = sorted(p.stem for p in d.glob("*.wav"))
    if quick:
        uris = uris[:3]
    diarizer = make_diarizer(settings)
    rows, reps, engine = [], [], None
    for uri in uris:
        t0 = time.perf_counter()
        res = diarizer.diarize(d / f"{uri}.wav")
        wall = time.perf_counter() - t0
        engine = res.engine
        rep = der(d / f"{uri}.rttm", res.turns, d / f"{uri}.uem", uri=uri)
        reps.append(rep)
        ref_n = len(load_rttm(d / f"{uri}.rttm")[uri].labels())
        rows.append({"item": uri, "der": round(rep["der"], 4), "missed": round(rep["missed"], 4),
                     "false_alarm": round(rep["false_alarm"], 4), "confusion": round(rep["confusion"], 4),
                     "speakers_ref": ref_n, "speakers_hyp": len(res.speakers),
                     "count_correct": ref_n == len(res.speakers), "wall_s": round(wall, 2)})
    pooled = pooled_der(reps) if reps else {"der": None, "missed": None, "false_alarm": None, "confusion": None}
    out = {"engine": engine.to_dict() if engine else None, "rows": rows,
           **{k: (round(pooled[k], 4) if pooled[k] is not None else None)
              for k in ("der", "missed", "false_alarm", "confusion")},
           "speaker_count_correct": sum(r["count_correct"] for r in rows), "files": len(rows),
           "scoring": "pyannote.metrics DiarizationErrorRate, collar 0, overlap scored, inside UEM"}
    if not quick and len(uris) > 1:
        with tempfile.TemporaryDirectory() as tmp:
            wav, ref, uem = build_long_diarization_input(d, Path(tmp) / "long.wav")
            t0 = time.perf_counter()
            res = diarizer.diarize(wav)
            wall = time.perf_counter() - t0
            rep = der(ref, res.turns, uem, uri="long")
            out["long"] = {**{k: round(rep[k], 4) for k in ("der", "missed", "false_alarm", "confusion")},
                           "est_speakers": len(res.speakers), "true_speakers": len(ref.labels()),
                           "duration_s": round(res.stats["duration_s"], 2), "wall_s": round(wall, 2),
                           "timings_s": res.stats.get("timings_s")}
    return out


def build_long_diarization_input(d: Path, out: Path):
    """One long input from the AMI clips (index.csv order, UEM regions only), as diarization meets a whole
    episode: returns (wav path, reference Annotation, UEM Timeline). References are shifted, labels kept, so
    a participant heard in several clips (index.csv `shares_speakers_with`) stays one speaker."""
    import soundfile as sf
    from pyannote.core import Annotation, Segment, Timeline

    from dub_resources.diarization.metrics import load_rttm

    with open(d / "index.csv", newline="") as fh:
        uris = [r["uri"] for r in csv.DictReader(fh)]
    ref, regions, offset, sr = Annotation(uri="long"), [], 0.0, 16000
    out.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(out), "w", samplerate=sr, channels=1, subtype="PCM_16") as fh:
        for uri in uris:
            x, _ = read_audio(d / f"{uri}.wav", sr=sr, mono=True)
            clip_ref = load_rttm(d / f"{uri}.rttm")[uri]
            for line in (d / f"{uri}.uem").read_text().splitlines():
                f = line.split()
                if len(f) < 4 or f[0] != uri:
                    continue
                a, b = int(round(float(f[2]) * sr)), min(int(round(float(f[3]) * sr)), x.size)
                if b <= a:
                    continue
                fh.write(x[a:b])
                for seg, _, label in clip_ref.crop(Segment(a / sr, b / sr), mode="intersection") \
                        .itertracks(yield_label=True):
                    ref[Segment(seg.start - a / sr + offset, seg.end - a / sr + offset)] = label
                regions.append(Segment(offset, offset + (b - a) / sr))
                offset += (b - a) / sr
    return out, ref, Timeline(regions, uri="long")


def bench_asr(data: Path, settings: Settings, quick: bool) -> dict:
    from dub_resources.asr import make_transcriber
    from dub_resources.text_normalize import cer, english_normalizer_name, wer

    out: dict = {"rows": [], "normaliser": english_normalizer_name()}
    en = data / "asr_en"
    if en.exists():
        with open(en / "transcripts.tsv", newline="") as fh:
            items = list(csv.DictReader(fh, delimiter="\t"))
        if quick:
            items = items[:5]
        tr = make_transcriber(settings, "en")
        refs, hyps, audio_s, wall_s = [], [], 0.0, 0.0
        for it in items:
            path = next(en.glob(f"{it['id']}.*"))
            x, sr = read_audio(path, sr=16000, mono=True)
            with tempfile.TemporaryDirectory() as tmp:
                wav = write_audio(Path(tmp) / "a.wav", x, 16000)
                t0 = time.perf_counter()
                t = tr.transcribe(wav, language="en")
                wall_s += time.perf_counter() - t0
            audio_s += x.size / 16000
            refs.append(it["text"])
            hyps.append(t.text)
            out["rows"].append({"set": "asr_en", "item": it["id"], "wer": round(wer(it["text"], t.text, "en"), 4),
                                "hyp": t.text})
        out["engine"] = t.engine.to_dict()
        out["wer"] = round(wer(refs, hyps, "en"), 4)
        out["rtf"] = round(wall_s / max(audio_s, 1e-9), 4)
    ml = data / "asr_multilingual"
    if ml.exists():
        with open(ml / "transcripts.tsv", newline="") as fh:
            items = list(csv.DictReader(fh, delimiter="\t"))
        if quick:
            items = [it for it in items if it["lang"] == "es"][:1]
        per_lang: dict[str, tuple[list, list]] = {}
        for it in items:
            tr = make_transcriber(settings, it["lang"])
            t = tr.transcribe(ml / it["lang"] / f"{it['id']}.wav", language=it["lang"])
            per_lang.setdefault(it["lang"], ([], []))
            per_lang[it["lang"]][0].append(it["text"])
            per_lang[it["lang"]][1].append(t.text)
            out["rows"].append({"set": "asr_multilingual", "item": it["id"], "lang": it["lang"],
                                "cer": round(cer(it["text"], t.text, it["lang"]), 4), "hyp": t.text})
            out["engine_multilingual"] = t.engine.to_dict()
        out["cer_by_lang"] = {k: round(cer(r, h, k), 4) for k, (r, h) in per_lang.items()}
    return out


def bench_speakers(data: Path, settings: Settings, quick: bool) -> dict:
    from dub_resources.speaker_embedding import make_speaker_encoder

    d = data / "speakers"
    enc = make_speaker_encoder()
    thr = float(getattr(enc, "same_speaker_threshold", 0.7))

    def emb(p):
        return enc.embed_file(p)

    enrol = {}
    for spk_dir in sorted((d / "episode_a").iterdir()):
        e = np.mean([emb(p) for p in sorted(spk_dir.glob("*.wav"))], axis=0)
        enrol[spk_dir.name] = e / np.linalg.norm(e)
    names = sorted(enrol)
    rows, genuine, impostor = [], [], []
    for split in ("episode_b", "distractors"):
        for spk_dir in sorted((d / split).iterdir()) if (d / split).exists() else []:
            for p in sorted(spk_dir.glob("*.wav")):
                e = emb(p)
                sims = {n: float(np.dot(e, enrol[n])) for n in names}
                best = max(sims, key=sims.get)
                accepted = sims[best] >= thr
                truth = spk_dir.name if split == "episode_b" else None
                for n, s in sims.items():
                    (genuine if n == truth else impostor).append(s)
                rows.append({"item": f"{split}/{spk_dir.name}/{p.name}", "truth": truth, "predicted":
                             best if accepted else None, "score": round(sims[best], 4),
                             "correct": (best == truth and accepted) if truth else not accepted})
    b = [r for r in rows if r["truth"]]
    dis = [r for r in rows if not r["truth"]]
    return {"engine": enc.info.to_dict(), "threshold": thr, "rows": rows,
            "accuracy": round(sum(r["correct"] for r in b) / max(len(b), 1), 4),
            "distractor_false_accept_rate": round(sum(not r["correct"] for r in dis) / max(len(dis), 1), 4),
            "eer": round(_eer(np.array(genuine), np.array(impostor)), 4)}


def _eer(gen: np.ndarray, imp: np.ndarray) -> float:
    if gen.size == 0 or imp.size == 0:
        return float("nan")
    thr = np.sort(np.concatenate([gen, imp]))
    frr = np.array([(gen < t).mean() for t in thr])
    far = np.array([(imp >= t).mean() for t in thr])
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)

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


# -- lines: the line builder on real ASR + diarization of the episodes -------------------------------------------
def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _ref_index(w0: float, w1: float, ref: list[tuple[float, float, str]]) -> int | None:
    """The reference turn holding most of a word's span (None when it is in no turn)."""
    best, best_ov = None, 0.0
    for k, (s, e, _) in enumerate(ref):
        ov = _overlap(w0, w1, s, e)
        if ov > best_ov:
            best, best_ov = k, ov
    return best


def line_scores(lines, ref: list[tuple[float, float, str]], pause_s: float = 0.3) -> dict:
    """Score dubbing lines against reference turns (start, end, speaker), one source utterance per turn:

    speaker_purity: duration-weighted share of each line's [start, end] inside its best reference speaker's turns;
    cross_speaker_lines: lines whose words (each given to the reference speaker holding most of its span) come from
    two or more reference speakers; split_sentences: share of reference turns with a line boundary inside them (two
    consecutive words of the turn in different lines) where the earlier line ends with no punctuation and the pause
    before the next word is under `pause_s`."""
    total = pure = 0.0
    cross = 0
    for ln in lines:
        dur = max(ln.end - ln.start, 0.0)
        per: dict[str, float] = {}
        for s, e, spk in ref:
            per[spk] = per.get(spk, 0.0) + _overlap(ln.start, ln.end, s, e)
        total += dur
        pure += min(max(per.values(), default=0.0), dur)
        spk = {ref[k][2] for k in (_ref_index(w["start"], w["end"], ref) for w in ln.words) if k is not None}
        cross += len(spk) > 1
    flat = [(li, w) for li, ln in enumerate(lines) for w in ln.words]
    seen: set[int] = set()
    cut: set[int] = set()
    for k, (li, w) in enumerate(flat):
        t = _ref_index(w["start"], w["end"], ref)
        if t is None:
            continue
        seen.add(t)
        if k + 1 < len(flat) and flat[k + 1][0] != li:
            nxt = flat[k + 1][1]
            if _ref_index(nxt["start"], nxt["end"], ref) == t:
                text = w["text"].strip().rstrip("\"'”’»)]")
                if not (text and text[-1] in ".?!…,;:—–-") and nxt["start"] - w["end"] < pause_s:
                    cut.add(t)
    return {"lines": len(lines), "speaker_purity": round(pure / total, 4) if total else None,
            "cross_speaker_lines": cross, "sentences": len(seen), "split_sentences_n": len(cut),
            "split_sentences": round(len(cut) / len(seen), 4) if seen else 0.0}


def _episode_reference(ep_json: Path) -> list[tuple[float, float, str]]:
    """Reference turns from the episode's RTTM (the JSON's turns when there is no RTTM)."""
    rttm = ep_json.with_suffix(".rttm")
    if rttm.exists():
        out = []
        for line in rttm.read_text().splitlines():
            f = line.split()
            if len(f) >= 8 and f[0] == "SPEAKER":
                out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
        return sorted(out)
    import json

    return sorted((t["start"], t["end"], t["speaker"]) for t in json.loads(ep_json.read_text())["turns"])


def _listen(wav: Path, settings: Settings, language: str) -> tuple[dict, dict, float, float]:
    """(transcript dict, diarization dict, asr s, diarization s) of one episode wav by the pipeline's own engines
    (make_transcriber / make_diarizer on the wav itself), cached under var/bench/lines/ by the wav's content and the
    engines' choice and code, so a rerun with nothing changed does not transcribe again."""
    import json

    from dub_resources.asr import choose_transcriber
    from dub_resources.diarization import choose_diarizer
    from dub_resources.engine import module_digest
    from dub_resources.manifest import file_fingerprint, fingerprint, write_json_atomic
    from dub_resources.settings import REPO_ROOT

    a, d = choose_transcriber(settings, language), choose_diarizer(settings)
    key = fingerprint("bench-lines", {"wav": file_fingerprint(wav), "asr": [a.name, a.version],
                                      "diarizer": [d.name, d.version], "num_speakers": settings.num_speakers,
                                      "code": module_digest("dub_resources.asr", "dub_resources.diarization"),
                                      "language": language})
    cache = REPO_ROOT / "var" / "bench" / "lines" / f"{wav.stem}-{key[:16]}.json"
    if cache.exists():
        c = json.loads(cache.read_text())
        return c["transcript"], c["diarization"], c["asr_s"], c["diarization_s"]
    from dub_resources.asr import make_transcriber
    from dub_resources.diarization import make_diarizer

    t0 = time.perf_counter()
    tr = make_transcriber(settings, language).transcribe(wav, language=language)
    asr_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = make_diarizer(settings).diarize(wav, num_speakers=settings.num_speakers)
    dia_s = time.perf_counter() - t0
    out = {"transcript": tr.to_dict(), "diarization": {"engine": res.engine.to_dict(),
                                                       "turns": [t.to_dict() for t in res.turns]},
           "asr_s": round(asr_s, 2), "diarization_s": round(dia_s, 2)}
    write_json_atomic(cache, out)
    return out["transcript"], out["diarization"], out["asr_s"], out["diarization_s"]


def bench_lines(data: Path, settings: Settings, quick: bool) -> dict:
    """Dubbing lines (dub_resources.segments.build_lines) on the episodes/ sets: ASR and diarization of each episode
    wav by the pipeline's engines, the lines built from both, scored against the reference RTTM turns."""
    from dub_resources.asr.base import AsrSegment, Transcript, Word
    from dub_resources.diarization.base import Turn
    from dub_resources.engine import EngineInfo
    from dub_resources.segments import MAX_LINE_S, MIN_FRAGMENT_S, build_lines

    eps = sorted(p for p in (data / "episodes").glob("*/*.json") if p.with_suffix(".wav").exists())
    if quick:
        eps = eps[:1]
    language = settings.source_lang
    rows, engine, all_lines, all_ref = [], {}, [], []
    offset = 0.0
    for ep in eps:
        t, dia, asr_s, dia_s = _listen(ep.with_suffix(".wav"), settings, language)
        transcript = Transcript(t["language"], [AsrSegment(s["start"], s["end"], s["text"],
                                                           [Word(**w) for w in s.get("words", [])])
                                                for s in t["segments"]], EngineInfo(**t["engine"]))
        turns = [Turn(**x) for x in dia["turns"]]
        lines = build_lines(transcript, turns)
        ref = _episode_reference(ep)
        sc = line_scores(lines, ref)
        engine = {"asr": t["engine"], "diarization": dia["engine"]}
        rows.append({"item": f"{ep.parent.name}/{ep.stem}", **sc, "hyp_speakers": len({x.speaker for x in turns}),
                     "ref_speakers": len({r[2] for r in ref}), "asr_s": asr_s, "diarization_s": dia_s,
                     "mean_line_s": round(sum(ln.end - ln.start for ln in lines) / max(len(lines), 1), 2),
                     "max_line_s": round(max((ln.end - ln.start for ln in lines), default=0.0), 2)})
        # pooled over the episodes: shift each episode so their times do not meet
        for ln in lines:
            ln.start, ln.end = ln.start + offset, ln.end + offset
            ln.words = [{**w, "start": w["start"] + offset, "end": w["end"] + offset} for w in ln.words]
        all_lines += lines
        all_ref += [(s + offset, e + offset, f"{ep.stem}:{spk}") for s, e, spk in ref]
        offset += max([r[1] for r in ref] + [ln.end for ln in lines] + [0.0]) + 10.0
    pooled = line_scores(all_lines, all_ref) if rows else {}
    return {"engine": engine, "rows": rows, "episodes": len(rows),
            "speaker_purity": pooled.get("speaker_purity"), "cross_speaker_lines": pooled.get("cross_speaker_lines"),
            "split_sentences": pooled.get("split_sentences"), "lines": pooled.get("lines"),
            "sentences": pooled.get("sentences"),
            "params": {"max_line_s": MAX_LINE_S, "min_fragment_s": MIN_FRAGMENT_S, "language": language},
            "method": "ASR (make_transcriber) and diarization (make_diarizer) on each episode wav, lines by "
                      "build_lines, scored against the RTTM turns (one source utterance = one reference sentence); "
                      "pooled over the episodes"}


# -- translation: the translator the pipeline chooses, on translation/<src>-<tgt>.tsv -----------------------------
def _read_pairs(path: Path) -> tuple[list[str], list[str]]:
    """(sources, references) of a translation TSV (header id/source/reference; no quoting: split on tabs)."""
    rows = [ln.rstrip("\n").split("\t") for ln in path.read_text(encoding="utf-8").splitlines(True)]
    rows = [r for r in rows[1:] if len(r) >= 3]
    return [r[1] for r in rows], [r[2] for r in rows]


def bench_translation(data: Path, settings: Settings, quick: bool) -> dict:
    """chrF and BLEU (sacrebleu, corpus level, defaults) of the translator the pipeline would use for each pair
    (choose_translator(settings, src, tgt), same settings), plus its speed and the routes its lines took. A pair with
    no translator is listed under `unavailable` with the chooser's error. Without --quick, a chain or consensus is
    also scored without its rule-based edits (`no_edits`), the comparison that keeps them."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError as exc:
        raise SystemExit("dub bench: the translation section needs sacrebleu (pip install sacrebleu)") from exc
    from collections import Counter

    from dub_resources.engine import package_version
    from dub_resources.errors import UnsupportedLanguagePair
    from dub_resources.translation import (ChainTranslator, ConsensusTranslator, choose_translator, is_untranslated,
                                           line_routes)

    out: dict = {"rows": [], "unavailable": [], "engine": {},
                 "scoring": f"sacrebleu {package_version('sacrebleu')}, corpus level, default chrF and BLEU"}
    for tsv in sorted((data / "translation").glob("*-*.tsv")):
        pair = tsv.stem
        src, tgt = pair.split("-", 1)
        sources, refs = _read_pairs(tsv)
        if quick:
            sources, refs = sources[:20], refs[:20]
        try:
            choice = choose_translator(settings, src, tgt)
        except UnsupportedLanguagePair as exc:
            out[pair] = {"available": False, "engine": None, "error": str(exc), "lines": len(sources)}
            out["unavailable"].append(pair)
            out["rows"].append({"item": pair, "available": False, "error": str(exc)})
            continue
        tr = choice.build()
        tr.info.fallbacks[:0] = list(choice.skipped)
        t0 = time.perf_counter()
        hyps = tr.translate(sources, src, tgt)
        wall = time.perf_counter() - t0
        chrf, bleu = CHRF(), BLEU()
        res = {"available": True, "option": choice.name, "engine": tr.info.to_dict(),
               "chrf": round(chrf.corpus_score(hyps, [refs]).score, 2),
               "bleu": round(bleu.corpus_score(hyps, [refs]).score, 2), "lines": len(sources),
               "lines_per_s": round(len(sources) / max(wall, 1e-9), 2),
               "untranslated": sum(is_untranslated(s, h) for s, h in zip(sources, hyps)),
               "routes": dict(Counter(line_routes(tr, sources))),
               "signature": {"chrf": str(chrf.get_signature()), "bleu": str(bleu.get_signature())}}
        if not quick and isinstance(tr, (ChainTranslator, ConsensusTranslator)):
            chains = tr.chains if isinstance(tr, ConsensusTranslator) else [tr]
            bare = [ChainTranslator(c.hops, edits=False) for c in chains]
            base = bare[0] if len(bare) == 1 else ConsensusTranslator(bare)
            bh = base.translate(sources, src, tgt)
            res["no_edits"] = {"chrf": round(CHRF().corpus_score(bh, [refs]).score, 2),
                               "bleu": round(BLEU().corpus_score(bh, [refs]).score, 2)}
        out[pair] = res
        out["engine"][pair] = tr.info.name
        out["rows"].append({"item": pair, **{k: v for k, v in res.items() if k not in ("engine", "signature")},
                            "engine": tr.info.name})
    return out

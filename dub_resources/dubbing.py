"""The two TTS passes: pass 1 speaks each line with a distinct preset voice per speaker (no clone); pass 2 speaks each
speaker's lines in its character's voice (clone when a cloning engine has weights, else WORLD voice matching of the
pass-1 lines toward the character's refs). Fallbacks per speaker are recorded, never hidden."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .audio import read_audio
from .engine import EngineInfo

log = logging.getLogger("dub.tts")

SLOT_TAIL_S = 0.6  # a line may run this far past its source end if the next line leaves room


@dataclass
class LineReport:
    index: int
    speaker: str
    voice: str
    engine: str
    wav: str
    slot_s: float
    duration_s: float
    speed: float
    overflow_s: float
    fallbacks: list[str] = field(default_factory=list)


@dataclass
class SpeakerReport:
    speaker: str
    voice: str
    character_id: str | None = None
    refs_used: list[str] = field(default_factory=list)
    clone_attempted: bool = False
    clone_succeeded: bool = False
    voice_match: str | None = None
    fallback_reasons: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    lines: int = 0
    similarity_before: float | None = None
    similarity_after: float | None = None


@dataclass
class TtsReport:
    pass_no: int
    language: str
    lines: list[LineReport]
    speakers: dict[str, SpeakerReport]

    def to_dict(self) -> dict:
        return {"pass": self.pass_no, "language": self.language, "lines": [asdict(x) for x in self.lines],
                "speakers": {k: asdict(v) for k, v in self.speakers.items()}}

    @property
    def overflow_lines(self) -> int:
        return sum(1 for x in self.lines if x.overflow_s > 0.05)


def slots(lines: list[dict], total_s: float) -> list[float]:
    """Time each line may occupy: its source span plus a tail, never into the next line's start."""
    out = []
    for i, ln in enumerate(lines):
        nxt = lines[i + 1]["start"] if i + 1 < len(lines) else total_s
        span = ln["end"] - ln["start"]
        out.append(max(0.3, min(span + SLOT_TAIL_S, max(nxt - ln["start"], span))))
    return out


def assign_preset_voices(speakers: list[str], presets: list[str]) -> dict[str, str]:
    """Distinct preset per speaker, in order of first appearance; cycles only when speakers outnumber presets."""
    if not presets:
        raise ValueError("no preset voices")
    return {spk: presets[i % len(presets)] for i, spk in enumerate(speakers)}


# Below this many lines a worker pool costs more to start than it saves.
PARALLEL_MIN_LINES = 16


def _speak_line(synth, text: str, language: str, voice: str, raw: Path, wav: Path, slot: float):
    """One pass-1 line: synthesize (engine chain with fallbacks) and fit to its slot."""
    from .tts import fit_to_slot, synthesize_line

    res = synthesize_line(synth, text, language, voice, raw)
    return res, fit_to_slot(raw, wav, slot)


def run_pass1(lines: list[dict], language: str, synth, out_dir: Path, total_s: float, speakers: list[str]) -> TtsReport:
    """Every line in its speaker's preset voice, fitted to its slot.

    Lines are spoken one after another in this process: Kokoro already uses both cores, and two single-threaded
    worker processes were measured only ~6% faster here for ~0.9 GB more memory."""
    voices = assign_preset_voices(speakers, synth.preset_voices(language))
    rep = TtsReport(1, language, [], {s: SpeakerReport(s, voices[s]) for s in speakers})
    jobs = [(ln, slot, out_dir / "raw" / f"line_{ln['index']:04d}.wav", out_dir / "lines" / f"line_{ln['index']:04d}.wav")
            for ln, slot in zip(lines, slots(lines, total_s))]
    results = [_speak_line(synth, ln["target_text"], language, voices[ln["speaker"]], raw, wav, slot)
               for ln, slot, raw, wav in jobs]
    for (ln, slot, _raw, wav), (res, fit) in zip(jobs, results):
        spk = ln["speaker"]
        sr = rep.speakers[spk]
        sr.lines += 1
        if res.engine.name not in sr.providers:
            sr.providers.append(res.engine.name)
        for f in res.engine.fallbacks:
            if f not in sr.fallback_reasons:
                sr.fallback_reasons.append(f)
        rep.lines.append(LineReport(ln["index"], spk, res.voice, res.engine.name, str(wav), round(slot, 3),
                                    round(fit["duration_s"], 3), round(fit["speed"], 3), round(fit["overflow_s"], 3),
                                    list(res.engine.fallbacks)))
    return rep


SIMILARITY_SPEECH_S = 8.0  # speech per side for the before/after similarity report (CAM++ cost grows with length)


def _concat(wavs: list[Path], sr: int = 16000, max_s: float = SIMILARITY_SPEECH_S) -> np.ndarray:
    """The first `max_s` seconds of the wavs joined (16 kHz mono), for one speaker embedding."""
    parts, n = [], 0
    for w in wavs:
        x, _ = read_audio(w, sr=sr, mono=True)
        parts.append(x[: int(max_s * sr) - n])
        n += parts[-1].size
        if n >= max_s * sr:
            break
    return np.concatenate(parts) if parts else np.zeros(sr, dtype=np.float32)



def _match_one(matcher, line_wav: Path, target, out_wav: Path):
    try:
        matcher.match(line_wav, target, out_wav)
        return None
    except Exception as exc:  # noqa: BLE001 - reported per line by the caller
        return exc


def _profile_and_match(by_spk, spk_refs, p1_lines, out_dir: Path, matcher, match_lines: bool, profile_cache=None):
    """Target voice profiles per speaker (read from `profile_cache` when the voice-refs stage already computed
    them) and, when `match_lines`, every line voice-matched, in a pool of worker processes when there is enough
    work (WORLD is single-threaded C code: a 2-core machine does it twice as fast).

    Returns (targets {speaker: VoiceProfile}, matched {line index: None or the exception}, profile errors
    {speaker: exception}); `matched` is empty when the pool is not used, and the caller then matches line by line.
    A speaker whose ref cannot be profiled keeps its preset voice (the caller records why)."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    from .voice_match import VoiceProfile, profiles_for

    if matcher is None:
        return {}, {}, {}
    found = profiles_for(matcher, [spk_refs[spk][0] for spk in by_spk if spk_refs[spk]], profile_cache)
    targets, errors = {}, {}
    for spk in by_spk:
        if spk_refs[spk]:
            res = found[Path(spk_refs[spk][0])]
            if isinstance(res, VoiceProfile):
                targets[spk] = res
            else:
                errors[spk] = res
    speakers = list(targets)
    n_lines = sum(len(by_spk[spk]) for spk in speakers)
    workers = min(os.cpu_count() or 1, 4)
    if not match_lines or n_lines < PARALLEL_MIN_LINES or workers < 2:
        return targets, {}, errors
    (out_dir / "lines").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {ln["index"]: pool.submit(_match_one, matcher, Path(p1_lines[ln["index"]]["wav"]), targets[spk],
                                            out_dir / "lines" / f"line_{ln['index']:04d}.wav")
                   for spk in speakers for ln in by_spk[spk]}
        return targets, {i: f.result() for i, f in futures.items()}, errors


def run_pass2(
    lines: list[dict],
    language: str,
    pass1: dict,
    refs: dict[str, list[Path]],
    characters: dict[str, str | None],
    out_dir: Path,
    total_s: float,
    cloner=None,
    matcher=None,
    encoder=None,
    profile_cache=None,
) -> TtsReport:
    """Each speaker's lines in its character's voice. cloner: CloningSynthesizer or None; matcher: VoiceMatcher."""
    from .tts import fit_to_slot

    p1_lines = {x["index"]: x for x in pass1["lines"]}
    p1_speakers = pass1["speakers"]
    rep = TtsReport(2, language, [], {})
    by_spk: dict[str, list[dict]] = defaultdict(list)
    for ln, slot in zip(lines, slots(lines, total_s)):
        by_spk[ln["speaker"]].append({**ln, "slot": slot})
    existing_refs = {spk: [Path(r) for r in refs.get(spk, []) if Path(r).exists()] for spk in by_spk}
    targets, matched, profile_errors = _profile_and_match(by_spk, existing_refs, p1_lines, out_dir, matcher,
                                                          cloner is None, profile_cache)
    for spk, spk_lines in by_spk.items():
        spk_refs = existing_refs[spk]
        sr = SpeakerReport(spk, p1_speakers.get(spk, {}).get("voice", "?"), characters.get(spk),
                           refs_used=[str(r) for r in spk_refs])
        rep.speakers[spk] = sr
        target = targets.get(spk)
        if not spk_refs:
            sr.fallback_reasons.append("no reference audio for speaker; kept preset voice")
        elif spk in profile_errors:
            err = profile_errors[spk]
            sr.fallback_reasons.append(f"voice profile failed: {type(err).__name__}: {err}"[:300])
        elif cloner is not None:
            sr.clone_attempted = True
        for ln in spk_lines:
            p1 = p1_lines[ln["index"]]
            wav = out_dir / "lines" / f"line_{ln['index']:04d}.wav"
            engine, fallbacks = p1["engine"], []
            done = False
            if sr.clone_attempted:
                try:
                    raw = out_dir / "raw" / f"line_{ln['index']:04d}.wav"
                    cloner.clone(ln["target_text"], language, spk_refs, raw)
                    fit_to_slot(raw, wav, ln["slot"])
                    engine, done = cloner.name, True
                    sr.clone_succeeded = True
                except Exception as exc:  # noqa: BLE001 - any engine failure falls back, recorded below
                    reason = f"clone failed: {type(exc).__name__}: {exc}"[:300]
                    if reason not in sr.fallback_reasons:
                        sr.fallback_reasons.append(reason)
                    fallbacks.append("clone->preset")
            if not done and target is not None:
                try:
                    if ln["index"] in matched:  # already transformed by the worker pool (or failed there)
                        if isinstance(matched[ln["index"]], BaseException):
                            raise matched[ln["index"]]
                    else:
                        matcher.match(Path(p1["wav"]), target, wav)
                    engine, done = f"{p1['engine']}+{matcher.name}", True
                    sr.voice_match = matcher.name
                except Exception as exc:  # noqa: BLE001
                    reason = f"voice match failed: {type(exc).__name__}: {exc}"[:300]
                    if reason not in sr.fallback_reasons:
                        sr.fallback_reasons.append(reason)
                    fallbacks.append("voice-match->preset")
            if not done:
                wav.parent.mkdir(parents=True, exist_ok=True)
                from .manifest import write_bytes_atomic
                write_bytes_atomic(wav, Path(p1["wav"]).read_bytes())
                engine = p1["engine"]
            if engine not in sr.providers:
                sr.providers.append(engine)
            sr.lines += 1
            x, rate = read_audio(wav, mono=True)
            dur = x.size / rate
            rep.lines.append(LineReport(ln["index"], spk, sr.voice, engine, str(wav), round(ln["slot"], 3),
                                        round(dur, 3), p1.get("speed", 1.0),
                                        round(max(0.0, dur - ln["slot"]), 3), fallbacks))
        if encoder is not None and spk_refs:
            try:
                ref_emb = encoder.embed(_concat(spk_refs))
                before = encoder.embed(_concat([Path(p1_lines[ln["index"]]["wav"]) for ln in spk_lines]))
                after = encoder.embed(_concat([out_dir / "lines" / f"line_{ln['index']:04d}.wav" for ln in spk_lines]))
                sr.similarity_before = round(float(np.dot(ref_emb, before)), 4)
                sr.similarity_after = round(float(np.dot(ref_emb, after)), 4)
            except Exception as exc:  # noqa: BLE001 - similarity is a report, not a requirement
                log.warning("pass2: similarity not measured for %s: %s", spk, exc)
    rep.lines.sort(key=lambda x: x.index)
    return rep


def engine_summary(rep: TtsReport, version: str = "n/a") -> EngineInfo:
    """One EngineInfo for a whole pass: the providers actually used and every fallback reason."""
    providers = sorted({p for s in rep.speakers.values() for p in s.providers})
    fallbacks = sorted({f for s in rep.speakers.values() for f in s.fallback_reasons})
    return EngineInfo("+".join(providers) or "none", version, fallbacks)

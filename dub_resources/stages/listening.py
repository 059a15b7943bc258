"""Pass-1 listening half: source audio -> stems -> diarization / transcript -> translation -> voice refs."""

from __future__ import annotations

import json
from pathlib import Path

from .. import media
from ..manifest import StageManifest, atomic_path, file_fingerprint, read_json, write_json_atomic, write_text_atomic
from .base import Check, Plan, Stage, StageContext, StageResult, fixed_plan, plan_from_choice, without_timings

GROUP_LISTEN = "listen"


def voice_profile_dir(ctx: StageContext) -> Path:
    """Where voice profiles of reference wavs are cached: per series (shared by its episodes), or inside the episode
    in privacy/minimal mode, where nothing about a voice may persist beyond the episode."""
    if ctx.settings.privacy_mode:
        return ctx.paths.root / "voice_profiles"
    return ctx.series_paths.voice_profiles


def separated(ctx: StageContext) -> bool:
    return bool((StageManifest(ctx.paths.manifest("stems")).load() or {}).get("metadata", {}).get("separated"))


def speech_input(ctx: StageContext) -> tuple[Path, str]:
    """The wav every speech stage analyses: the dialogue stem when separation succeeded, else the source."""
    if separated(ctx) and ctx.paths.dialogue_16k.exists():
        return ctx.paths.dialogue_16k, "dialogue"
    return ctx.paths.source_16k, "full"


# -- source ------------------------------------------------------------------------------------------------------
def _source_plan(ctx: StageContext) -> Plan:
    return fixed_plan("ffmpeg", media.ffmpeg_version(), ("dub_resources.media",))


def _source_run(ctx: StageContext, plan: Plan) -> StageResult:
    src, p = ctx.reg.source_path, ctx.paths
    info = media.probe(src)
    media.extract_audio(src, p.source_48k, p.source_16k)
    write_json_atomic(p.probe, info.to_dict())
    return StageResult(
        engine=media.engine_info(),
        outputs={"work_48k": str(p.source_48k), "analysis_16k": str(p.source_16k), "probe": str(p.probe)},
        summary=f"source={src} duration={info.duration_s:.1f}s video={info.has_video}",
        metadata={"source": src, "duration_s": round(info.duration_s, 3), "has_video": info.has_video,
                  "audio_codec": info.audio_codec or "?", "channels": info.channels or 0,
                  "work_copy": str(p.source_48k)},
    )


SOURCE = Stage(
    name="source_audio", group=GROUP_LISTEN, partition="episode", upstream=(), kinds=("ffmpeg",),
    description="48 kHz stereo work copy + 16 kHz mono analysis copy of the episode's first audio stream, and its "
                "probe info.",
    outputs="audio/source_48k.wav, audio/source_16k.wav, audio/probe.json",
    plan=_source_plan, run=_source_run,
    extra_inputs=lambda ctx: {"source": file_fingerprint(ctx.reg.source_path)},
)


# -- stems -------------------------------------------------------------------------------------------------------
def _stems_plan(ctx: StageContext) -> Plan:
    from ..separation import choose_separator

    return plan_from_choice(choose_separator(ctx.settings), ("dub_resources.separation", "dub_resources.audio"))


def _stems_run(ctx: StageContext, plan: Plan) -> StageResult:
    from ..audio import sum_error_db
    from ..separation import separate_with_fallback

    p = ctx.paths
    sep = plan.choice.build()
    res = separate_with_fallback(sep, p.source_48k, p.stems_dir)
    res.engine.fallbacks[:0] = list(plan.choice.fallbacks)
    recon = sum_error_db(p.source_48k, [res.dialogue_wav, res.background_wav])
    levels = {k: round(v, 2) for k, v in res.stats.items() if isinstance(v, (int, float))}
    return StageResult(
        outputs={"dialogue": str(res.dialogue_wav), "dialogue_16k": str(p.dialogue_16k),
                 "background": str(res.background_wav)},
        engine=res.engine, degraded=len(res.engine.fallbacks) > len(plan.choice.fallbacks),
        summary=f"separated={res.separated} engine={res.engine.name}",
        metadata={**res.stats, **levels, "separated": res.separated, "reconstruction_error_db": round(recon, 1),
                  "dialogue": str(res.dialogue_wav), "background": str(res.background_wav)},
    )


def _stems_check(meta: dict) -> tuple[bool, dict]:
    err = meta.get("reconstruction_error_db")
    return (err is None or err < -30.0), {"reconstruction_error_db": err if err is not None else "n/a",
                                           "separated": bool(meta.get("separated"))}


STEMS = Stage(
    name="stems", group=GROUP_LISTEN, partition="episode", upstream=("source_audio",),
    description="Dialogue stem (speech estimate) and background stem (original minus dialogue, full band).",
    outputs="stems/dialogue.wav, stems/dialogue_16k.wav, stems/background.wav",
    plan=_stems_plan, run=_stems_run,
    checks=(Check("stems_sum_to_source", "dialogue + background reconstruct the source within -30 dB",
                  _stems_check),),
)


# -- diarization -------------------------------------------------------------------------------------------------
def _diarization_plan(ctx: StageContext) -> Plan:
    from ..diarization import choose_diarizer

    return plan_from_choice(choose_diarizer(ctx.settings),
                            ("dub_resources.diarization", "dub_resources.speaker_embedding", "dub_resources.audio"),
                            num_speakers=ctx.settings.num_speakers, input=speech_input(ctx)[1])


def _diarization_run(ctx: StageContext, plan: Plan) -> StageResult:
    p = ctx.paths
    wav, which = speech_input(ctx)
    diarizer, name, fallbacks = plan.choice.build_with_fallback("diarization")
    diarizer.info.fallbacks[:0] = fallbacks
    res = diarizer.diarize(wav, num_speakers=ctx.settings.num_speakers)
    write_text_atomic(p.diarization_rttm, res.to_rttm(f"{ctx.series}_{ctx.episode}"))
    stats, timings = without_timings(res.stats)
    write_json_atomic(p.diarization_json, {
        "input": which, "audio_path": str(wav), "engine": res.engine.to_dict(), "speakers": res.speakers,
        "turns": [t.to_dict() for t in res.turns], "stats": stats})
    speech = sum(t.end - t.start for t in res.turns)
    per = {s: round(sum(t.end - t.start for t in res.turns if t.speaker == s), 1) for s in res.speakers}
    return StageResult(
        outputs={"json": str(p.diarization_json), "rttm": str(p.diarization_rttm)},
        engine=res.engine, degraded=name != plan.engine,
        summary=f"input={which} speakers={len(res.speakers)} engine={res.engine.name}",
        metadata={**timings, "input": which, "num_speakers": len(res.speakers), "turns": len(res.turns),
                  "speech_s": round(speech, 2), "speech_per_speaker": per, "rttm": str(p.diarization_rttm)},
    )


DIARIZATION = Stage(
    name="diarization", group=GROUP_LISTEN, partition="episode", upstream=("stems",), isolate=True,
    description="Who spoke when, on the dialogue stem (RTTM + JSON; records input=dialogue|full).",
    outputs="diarization/diarization.rttm, diarization/diarization.json",
    plan=_diarization_plan, run=_diarization_run,
    checks=(Check("speakers_found", "at least one speaker found",
                  lambda m: (int(m.get("num_speakers", 0)) >= 1,
                             {"num_speakers": int(m.get("num_speakers", 0)), "speech_s": m.get("speech_s", 0.0)})),),
)


# -- transcript --------------------------------------------------------------------------------------------------
def _transcript_plan(ctx: StageContext) -> Plan:
    from ..asr import choose_transcriber

    lang = ctx.reg.source_lang
    choice = choose_transcriber(ctx.settings, lang)
    tr = choice.build()  # cheap: the model loads on first use
    return plan_from_choice(choice, ("dub_resources.asr",), language=lang, input=speech_input(ctx)[1],
                            beam_size=tr.beam_size, compute_type=tr.compute_type, block_s=tr.block_s,
                            temperature=getattr(tr, "temperature", 0.0))


def _transcript_run(ctx: StageContext, plan: Plan) -> StageResult:
    from ..subtitles import write_srt

    p = ctx.paths
    wav, which = speech_input(ctx)
    lang = ctx.reg.source_lang
    tr = plan.choice.build().transcribe(wav, language=lang)
    tr.engine.fallbacks[:0] = list(plan.choice.fallbacks)
    tr.stats, timings = without_timings(tr.stats)
    write_json_atomic(p.transcript_json, {"input": which, "audio_path": str(wav), **tr.to_dict()})
    write_srt(p.transcript_srt, [(s.start, s.end, s.text.strip()) for s in tr.segments])
    words = sum(len(s.words) for s in tr.segments)
    return StageResult(
        outputs={"json": str(p.transcript_json), "srt": str(p.transcript_srt)},
        engine=tr.engine,
        summary=f"input={which} language={tr.language} segments={len(tr.segments)} words={words} "
                f"engine={tr.engine.name}",
        metadata={**timings, "input": which, "language": tr.language, "segments": len(tr.segments), "words": words,
                  "preview": tr.text[:300], "srt": str(p.transcript_srt)},
    )


TRANSCRIPT = Stage(
    name="transcript", group=GROUP_LISTEN, partition="episode", upstream=("stems",), isolate=True,
    description="ASR on the same speech wav as diarization: segments with word timestamps (JSON) and an SRT.",
    outputs="transcript/transcript.json, transcript/transcript.srt",
    plan=_transcript_plan, run=_transcript_run,
)


# -- translation -------------------------------------------------------------------------------------------------
def load_transcript(path: Path):
    from ..asr.base import AsrSegment, Transcript, Word
    from ..engine import EngineInfo

    d = json.loads(Path(path).read_text("utf-8"))
    segs = [AsrSegment(s["start"], s["end"], s["text"], [Word(**w) for w in s.get("words", [])])
            for s in d["segments"]]
    return Transcript(d["language"], segs, EngineInfo(**d["engine"]))


def load_turns(path: Path):
    from ..diarization.base import Turn

    return [Turn(**t) for t in json.loads(Path(path).read_text("utf-8"))["turns"]]


def _translation_plan(ctx: StageContext) -> Plan:
    from ..translation import choose_translator

    src, tgt = ctx.reg.source_lang, ctx.reg.target_lang
    return plan_from_choice(choose_translator(ctx.settings, src, tgt),
                            ("dub_resources.translation", "dub_resources.segments", "dub_resources.subtitles"),
                            source=src, target=tgt)


def _translation_run(ctx: StageContext, plan: Plan) -> StageResult:
    import pandas as pd

    from ..segments import build_lines
    from ..subtitles import write_srt
    from ..translation import is_untranslated, line_routes

    p = ctx.paths
    src, tgt = ctx.reg.source_lang, ctx.reg.target_lang
    lines = build_lines(load_transcript(p.transcript_json), load_turns(p.diarization_json), language=src)
    tr = plan.choice.build()
    tr.info.fallbacks.extend(plan.choice.fallbacks)
    sources = [ln.source_text for ln in lines]
    targets = tr.translate(sources, src, tgt) if lines else []
    routes = line_routes(tr, sources) if lines else []
    for ln, t in zip(lines, targets):
        ln.target_text = t.strip()
    # every line records the engine and the route it took, and whether it came back untranslated (empty or equal to
    # its source): the no_untranslated_lines check fails on any such line
    rows = [{**ln.to_dict(), "engine": tr.info.name, "route": route,
             "untranslated": is_untranslated(ln.source_text, ln.target_text)} for ln, route in zip(lines, routes)]
    untranslated = [r["index"] for r in rows if r["untranslated"]]
    df = pd.DataFrame(rows, columns=["index", "start", "end", "speaker", "source_text", "target_text"])
    with atomic_path(p.translation_parquet, ".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    write_json_atomic(p.translation_json, {"source_lang": src, "target_lang": tgt, "engine": tr.info.to_dict(),
                                           "lines": rows})
    srt = p.translation_srt(tgt)
    write_srt(srt, [(ln.start, ln.end, ln.target_text) for ln in lines])
    table = "| # | speaker | start | source | target | route |\n|---|---|---|---|---|---|\n" + "".join(
        f"| {ln.index} | {ln.speaker} | {ln.start:.1f} | {ln.source_text[:60]} | {ln.target_text[:60]} | {route} |\n"
        for ln, route in zip(lines[:20], routes))
    per_route: dict[str, int] = {}
    for r in routes:
        per_route[r] = per_route.get(r, 0) + 1
    return StageResult(
        outputs={"parquet": str(p.translation_parquet), "json": str(p.translation_json), "srt": str(srt)},
        engine=tr.info,
        summary=f"{src}->{tgt} lines={len(lines)} engine={tr.info.name} untranslated={len(untranslated)}",
        metadata={"pair": f"{src}->{tgt}", "lines": len(lines),
                  "empty_targets": sum(1 for ln in lines if not ln.target_text),
                  "untranslated_lines": len(untranslated), "untranslated_indexes": untranslated[:50],
                  "routes": per_route,
                  "speakers": len({ln.speaker for ln in lines}), "srt": str(srt), "lines_md": table},
    )


TRANSLATION = Stage(
    name="translation", group=GROUP_LISTEN, partition="episode", upstream=("transcript", "diarization"),
    description="Speaker-attributed lines translated to the target language: Parquet table (start, end, speaker, "
                "source text, target text), JSON and the target-language SRT.",
    outputs="translation/segments.parquet, translation/segments.json, translation/subtitles.<lang>.srt",
    plan=_translation_plan, run=_translation_run,
    checks=(Check("every_line_translated", "no line has an empty translation",
                  lambda m: (int(m.get("empty_targets", 0)) == 0,
                             {"lines": m.get("lines", 0), "empty_targets": int(m.get("empty_targets", 0))})),
            Check("no_untranslated_lines", "no line came back untranslated (empty, or equal to its source)",
                  lambda m: (int(m.get("untranslated_lines", 0)) == 0,
                             {"lines": m.get("lines", 0), "untranslated_lines": int(m.get("untranslated_lines", 0)),
                              "untranslated_indexes": ", ".join(map(str, m.get("untranslated_indexes", []))) or "-"})),
            ),
)


# -- voice refs --------------------------------------------------------------------------------------------------
def _voice_refs_plan(ctx: StageContext) -> Plan:
    from ..voice_refs import MAX_REF_S, MIN_REF_S

    return fixed_plan("dub-voice-refs", "1", ("dub_resources.voice_refs", "dub_resources.voice_match"),
                      min_s=MIN_REF_S, max_s=MAX_REF_S, input="dialogue" if separated(ctx) else "full",
                      profiles=str(voice_profile_dir(ctx)))


def _voice_refs_run(ctx: StageContext, plan: Plan) -> StageResult:
    from ..voice_match import ProfileCache, WorldVoiceMatcher, profiles_for
    from ..voice_refs import extract_refs

    p = ctx.paths
    src = p.dialogue if separated(ctx) else p.source_48k
    refs = extract_refs(src, load_turns(p.diarization_json), p.refs_dir)
    # the refs' voice profiles (pass 2's targets) are computed here, once: a pass-2 rerun only reads them
    profiles_for(WorldVoiceMatcher(), [Path(x.wav) for x in refs], ProfileCache(voice_profile_dir(ctx)))
    write_json_atomic(p.refs_manifest, {"input": "dialogue" if separated(ctx) else "full",
                                        "speakers": {x.speaker: x.to_dict() for x in refs}})
    warnings = sum(len(x.warnings) for x in refs)
    return StageResult(
        outputs={"manifest": str(p.refs_manifest), "refs": {x.speaker: x.wav for x in refs}},
        summary=f"speakers={len(refs)} warnings={warnings}",
        metadata={"speakers": len(refs), "warnings": warnings,
                  "ref_durations_s": {x.speaker: x.duration_s for x in refs},
                  "refs_md": "| speaker | ref s | speech s | level dB | warnings |\n|---|---|---|---|---|\n" + "".join(
                      f"| {x.speaker} | {x.duration_s} | {x.speech_total_s} | {x.level_db} | "
                      f"{'; '.join(x.warnings) or '-'} |\n" for x in refs)},
    )


VOICE_REFS = Stage(
    name="voice_refs", group=GROUP_LISTEN, partition="episode", upstream=("diarization", "stems"),
    description="Per speaker, 6-12 s of the cleanest single-speaker speech from the dialogue stem, with a manifest.",
    outputs="voice_refs/<speaker>.wav, voice_refs/manifest.json",
    plan=_voice_refs_plan, run=_voice_refs_run,
)


def read_probe_duration(ctx: StageContext) -> float:
    return float(read_json(ctx.paths.probe)["duration_s"])

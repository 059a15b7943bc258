"""Speaking half: TTS pass 1 -> preview mix; TTS pass 2 (character voices) -> final mix -> dubbed video."""

from __future__ import annotations

import json
from pathlib import Path

from .. import media
from ..engine import EngineInfo, package_version
from ..manifest import file_fingerprint, read_json, write_json_atomic
from .base import Check, Plan, Stage, StageContext, StageResult, fixed_plan, plan_from_choice
from .listening import read_probe_duration, separated, voice_profile_dir

GROUP_SPEAK = "speak"
TTS_CODE = ("dub_resources.tts", "dub_resources.dubbing", "dub_resources.mix", "dub_resources.audio")
MIX_PARAMS = {"target_lufs": -23.0, "duck_db": -9.0}


def _lines(ctx: StageContext) -> list[dict]:
    return json.loads(Path(ctx.paths.translation_json).read_text("utf-8"))["lines"]


def _speakers_in_order(lines: list[dict]) -> list[str]:
    seen: list[str] = []
    for ln in lines:
        if ln["speaker"] not in seen:
            seen.append(ln["speaker"])
    return seen


def _fit_check(meta: dict) -> tuple[bool, dict]:
    lines = int(meta.get("lines", 0))
    over = int(meta.get("overflow_lines", 0))
    frac = over / lines if lines else 0.0
    return frac <= 0.2, {"lines": lines, "overflow_lines": over, "overflow_fraction": round(frac, 3),
                         "max_speed": meta.get("max_speed", 1.0)}


def _render_track(ctx: StageContext, pass_no: int, report: dict, total_s: float) -> Path:
    from ..mix import PlacedLine, render_dialogue_track

    starts = {ln["index"]: ln["start"] for ln in _lines(ctx)}
    placed = [PlacedLine(starts[x["index"]], Path(x["wav"])) for x in report["lines"]]
    return render_dialogue_track(placed, total_s, ctx.paths.dialogue_track(pass_no))


def _tts_meta(rep: dict, track: Path) -> dict:
    md = "| speaker | voice | providers | lines | clone | similarity before->after | fallbacks |\n" \
         "|---|---|---|---|---|---|---|\n" + "".join(
            f"| {s} | {v['voice']} | {', '.join(v['providers'])} | {v['lines']} | "
            f"{'yes' if v['clone_succeeded'] else ('tried' if v['clone_attempted'] else 'no')} | "
            f"{v.get('similarity_before')} -> {v.get('similarity_after')} | {'; '.join(v['fallback_reasons']) or '-'} |\n"
            for s, v in rep["speakers"].items())
    return {"lines": len(rep["lines"]), "speakers": len(rep["speakers"]),
            "overflow_lines": sum(1 for x in rep["lines"] if x["overflow_s"] > 0.05),
            "max_speed": max([x["speed"] for x in rep["lines"]] + [1.0]),
            "voices": {s: v["voice"] for s, v in rep["speakers"].items()},
            "dialogue_track": str(track), "speakers_md": md}


# -- TTS pass 1 --------------------------------------------------------------------------------------------------
def _pass1_plan(ctx: StageContext) -> Plan:
    from ..tts.chain import choose_synthesizer

    lang = ctx.reg.target_lang
    return plan_from_choice(choose_synthesizer(ctx.settings, lang), TTS_CODE, language=lang)


def _pass1_run(ctx: StageContext, plan: Plan) -> StageResult:
    from ..dubbing import engine_summary, run_pass1

    lang, p = ctx.reg.target_lang, ctx.paths
    lines = _lines(ctx)
    synth, name, fallbacks = plan.choice.build_with_fallback("tts")
    synth.info.fallbacks = list(fallbacks)
    total = read_probe_duration(ctx)
    report = run_pass1(lines, lang, synth, p.tts_dir(1), total, _speakers_in_order(lines))
    rep = report.to_dict()
    write_json_atomic(p.tts_manifest(1), rep)
    track = _render_track(ctx, 1, rep, total)
    meta = _tts_meta(rep, track)
    return StageResult(
        outputs={"manifest": str(p.tts_manifest(1)), "dialogue_track": str(track)},
        summary=f"pass=1 language={lang} lines={meta['lines']} voices={meta['voices']} "
                f"overflow={meta['overflow_lines']}",
        engine=engine_summary(report, synth.info.version), metadata=meta, degraded=name != plan.engine)


TTS_PASS1 = Stage(
    name="tts_pass1", group=GROUP_SPEAK, partition="episode", upstream=("translation",), isolate=True,
    description="Every line spoken with a distinct preset voice per speaker (no clone), fitted to its time slot.",
    outputs="tts_pass1/lines/line_NNNN.wav, tts_pass1/tts_manifest.json, tts_pass1/dialogue_track.wav",
    plan=_pass1_plan, run=_pass1_run,
    checks=(Check("pass1_lines_fit_slots", "at most 20% of lines overflow their slot", _fit_check),),
)


# -- mixes -------------------------------------------------------------------------------------------------------
def _mix_plan(ctx: StageContext) -> Plan:
    return fixed_plan("dub-mix", f"pyloudnorm {package_version('pyloudnorm')}", ("dub_resources.mix",), **MIX_PARAMS)


def _mix_runner(pass_no: int, out_attr: str):
    def run(ctx: StageContext, plan: Plan) -> StageResult:
        from ..mix import mix_over_background

        out = getattr(ctx.paths, out_attr)
        stats = mix_over_background(ctx.paths.dialogue_track(pass_no), ctx.paths.background, out,
                                    duck_db=plan.params["duck_db"], target_lufs=plan.params["target_lufs"])
        bg = "bed" if separated(ctx) else "full"
        return StageResult(outputs={"mix": str(out)}, engine=EngineInfo(plan.engine, plan.version),
                           summary=f"background={bg} lufs={stats.integrated_lufs:.1f} peak={stats.peak_dbfs:.1f}dBFS",
                           metadata={**stats.to_dict(), "background": bg, "mix": str(out)})
    return run


def _no_clipping(meta: dict) -> tuple[bool, dict]:
    peak = float(meta.get("peak_dbfs", 0.0))
    return peak <= -0.9, {"peak_dbfs": peak, "integrated_lufs": meta.get("integrated_lufs", 0.0)}


def mix_stage(name: str, pass_no: int, description: str, check: str) -> Stage:
    """A mix of TTS pass `pass_no`'s dialogue track over the background stem (the preview and the final mix)."""
    return Stage(
        name=name, group=GROUP_SPEAK, partition="episode", upstream=(f"tts_pass{pass_no}", "stems"),
        description=description, outputs=f"mix/{name}.wav", plan=_mix_plan, run=_mix_runner(pass_no, name),
        checks=(Check(check, "true peak at most -0.9 dBFS", _no_clipping),),
    )


PREVIEW_MIX = mix_stage("preview_mix", 1, "Pass-1 dialogue over the background stem: an acceptable preview before the "
                                          "character voices exist.", "preview_no_clipping")


# -- TTS pass 2 --------------------------------------------------------------------------------------------------
def _mapping_path(ctx: StageContext) -> Path:
    return ctx.series_paths.episode_mapping(ctx.episode)


def _pass2_plan(ctx: StageContext) -> Plan:
    from ..speaker_embedding import choose_speaker_encoder
    from ..tts.chain import make_cloner

    cloner = make_cloner(ctx.settings)
    encoder = choose_speaker_encoder()
    if cloner is not None:
        return fixed_plan("xtts", cloner.info.version, TTS_CODE + ("dub_resources.voice_match",),
                          language=ctx.reg.target_lang, encoder=f"{encoder.name} {encoder.version}")
    from ..voice_match import WorldVoiceMatcher

    m = WorldVoiceMatcher().info
    return fixed_plan(m.name, m.version, TTS_CODE + ("dub_resources.voice_match", "dub_resources.speaker_embedding"),
                      language=ctx.reg.target_lang, encoder=f"{encoder.name} {encoder.version}")


def _pass2_run(ctx: StageContext, plan: Plan) -> StageResult:
    from ..dubbing import engine_summary, run_pass2
    from ..speaker_embedding import make_speaker_encoder
    from ..tts.chain import make_cloner
    from ..voice_match import ProfileCache, WorldVoiceMatcher

    lang, p = ctx.reg.target_lang, ctx.paths
    lines = _lines(ctx)
    mapping = (read_json(_mapping_path(ctx)) or {}).get("speakers")
    fallbacks = []
    if mapping is None:
        fallbacks.append("no voice-memory mapping for episode; using the episode's own refs")
        own = read_json(p.refs_manifest)["speakers"]
        mapping = {s: {"character_id": None, "refs": [x["wav"]]} for s, x in own.items()}
    refs = {s: [Path(x) for x in m["refs"]] for s, m in mapping.items()}
    chars = {s: m.get("character_id") for s, m in mapping.items()}
    pass1 = read_json(p.tts_manifest(1))
    total = read_probe_duration(ctx)
    cloner = make_cloner(ctx.settings)
    report = run_pass2(lines, lang, pass1, refs, chars, p.tts_dir(2), total, cloner=cloner,
                       matcher=WorldVoiceMatcher(), encoder=make_speaker_encoder(),
                       profile_cache=ProfileCache(voice_profile_dir(ctx)))
    rep = report.to_dict()
    rep["fallbacks"] = fallbacks
    write_json_atomic(p.tts_manifest(2), rep)
    track = _render_track(ctx, 2, rep, total)
    meta = _tts_meta(rep, track)
    meta["similarity_gain"] = {s: (None if v.get("similarity_after") is None else
                                   round(v["similarity_after"] - v["similarity_before"], 4))
                               for s, v in rep["speakers"].items()}
    sims = ", ".join(f"{s}:{v.get('similarity_before')}->{v.get('similarity_after')}" for s, v in rep["speakers"].items())
    return StageResult(
        outputs={"manifest": str(p.tts_manifest(2)), "dialogue_track": str(track)},
        summary=f"pass=2 language={lang} lines={meta['lines']} clone={'yes' if cloner else 'no'} similarity {sims}",
        engine=engine_summary(report, plan.version), metadata=meta)


TTS_PASS2 = Stage(
    name="tts_pass2", group=GROUP_SPEAK, partition="episode",
    upstream=("tts_pass1", "voice_refs", "translation", "voice_memory"), isolate=True,
    description="Each speaker's lines in its character's voice: XTTS clone when local weights exist, else WORLD voice "
                "matching of the pass-1 lines toward the character's refs; per-speaker similarity before/after.",
    outputs="tts_pass2/lines/line_NNNN.wav, tts_pass2/tts_manifest.json, tts_pass2/dialogue_track.wav",
    plan=_pass2_plan, run=_pass2_run,
    # the episode's mapping is what this stage reads of the series voice memory
    extra_inputs=lambda ctx: {"mapping": file_fingerprint(_mapping_path(ctx)) if _mapping_path(ctx).exists()
                              else None},
    checks=(Check("pass2_lines_fit_slots", "at most 20% of lines overflow their slot", _fit_check),),
)

FINAL_MIX = mix_stage("final_mix", 2, "Pass-2 dialogue over the background stem, ducked, loudness-normalised, "
                                      "peak-limited.", "final_no_clipping")


# -- dubbed video ------------------------------------------------------------------------------------------------
def _video_plan(ctx: StageContext) -> Plan:
    return fixed_plan("ffmpeg", media.ffmpeg_version(), ("dub_resources.media",), target=ctx.reg.target_lang,
                      source=ctx.reg.source_lang, audio_codec=ctx.settings.dubbed_audio_codec)


def _video_run(ctx: StageContext, plan: Plan) -> StageResult:
    p = ctx.paths
    probe = read_json(p.probe)
    out = media.mux_dubbed_video(source=ctx.reg.source_path, has_video=probe["has_video"], dubbed_wav=p.final_mix,
                                 subtitles_srt=p.translation_srt(plan.params["target"]), out_path=p.dubbed_video,
                                 target_lang=plan.params["target"], source_lang=plan.params["source"],
                                 audio_codec=plan.params["audio_codec"])
    streams = media.stream_summary(out)
    counts: dict[str, int] = {}
    for s in streams:
        counts[s["type"]] = counts.get(s["type"], 0) + 1
    return StageResult(outputs={"video": str(out)}, engine=media.engine_info(),
                       summary=f"video={out} streams={counts}",
                       metadata={"video": str(out), "has_video": probe["has_video"], "streams": counts,
                                 "tracks": streams, "size_mb": round(out.stat().st_size / 1e6, 2)})


def _streams_check(meta: dict) -> tuple[bool, dict]:
    s = meta.get("streams", {})
    ok = s.get("audio", 0) >= 2 and s.get("subtitle", 0) >= 1 and (s.get("video", 0) >= 1 or not meta.get("has_video"))
    return bool(ok), {"streams": s}


DUBBED_VIDEO = Stage(
    name="dubbed_video", group=GROUP_SPEAK, partition="episode", upstream=("final_mix", "translation", "source_audio"),
    description="The episode with its video stream copied, the dubbed track (default), the original track and "
                "subtitles.",
    outputs="video/<series>.<episode>.dubbed.mkv",
    plan=_video_plan, run=_video_run,  # the source file it muxes is fingerprinted by source_audio, upstream
    checks=(Check("expected_streams", "dubbed + original audio, subtitles, and the video when the source has one",
                  _streams_check),),
)

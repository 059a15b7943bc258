"""Speaking half: TTS pass 1 -> preview mix; TTS pass 2 (character voices) -> final mix -> dubbed video."""


import json
from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSpec, AssetDep, AssetExecutionContext, asset

from dub_resources import media
from dub_resources.engine import EngineInfo, package_version
from dub_resources.manifest import StageManifest, file_fingerprint, read_json, write_json_atomic

from ..partitions import episode_partitions, series_mapping
from ..resources import DubResource
from ..stage import StageOutput, run_stage, upstream_fingerprint
from .common import GROUP_SPEAK, episode_run
from .listening import source_audio, stems, translation, voice_refs
from .series import voice_memory


def _lines(paths) -> list[dict]:
    return json.loads(Path(paths.translation_json).read_text())["lines"]


def _duration(paths) -> float:
    return float(read_json(paths.probe)["duration_s"])


def _speakers_in_order(lines: list[dict]) -> list[str]:
    seen: list[str] = []
    for ln in lines:
        if ln["speaker"] not in seen:
            seen.append(ln["speaker"])
    return seen


def _fit_checks(name: str):
    def checks(meta: dict) -> list[AssetCheckResult]:
        lines = int(meta.get("lines", 0))
        over = int(meta.get("overflow_lines", 0))
        frac = over / lines if lines else 0.0
        return [AssetCheckResult(check_name=name, passed=frac <= 0.2,
                                 metadata={"lines": lines, "overflow_lines": over, "overflow_fraction": round(frac, 3),
                                           "max_speed": meta.get("max_speed", 1.0)})]
    return checks


def _render_track(paths, pass_no: int, report: dict, total_s: float) -> Path:
    from dub_resources.mix import PlacedLine, render_dialogue_track

    starts = {ln["index"]: ln["start"] for ln in _lines(paths)}
    placed = [PlacedLine(starts[x["index"]], Path(x["wav"])) for x in report["lines"]]
    return render_dialogue_track(placed, total_s, paths.dialogue_track(pass_no))


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


@asset(partitions_def=episode_partitions, group_name=GROUP_SPEAK, deps=[translation],
       check_specs=[AssetCheckSpec("pass1_lines_fit_slots", asset="tts_pass1")])
def tts_pass1(context: AssetExecutionContext, dub: DubResource):
    """Every line spoken with a distinct preset voice per speaker (no clone), fitted to its time slot."""
    from dub_resources.dubbing import engine_summary, run_pass1
    from dub_resources.tts import make_synthesizer

    r = episode_run(context, dub)
    lang = r.reg.target_lang

    def compute() -> StageOutput:
        lines = _lines(r.paths)
        synth = make_synthesizer(r.settings, lang)
        total = _duration(r.paths)
        report = run_pass1(lines, lang, synth, r.paths.tts_dir(1), total, _speakers_in_order(lines))
        rep = report.to_dict()
        write_json_atomic(r.paths.tts_manifest(1), rep)
        track = _render_track(r.paths, 1, rep, total)
        meta = _tts_meta(rep, track)
        return StageOutput(
            outputs={"manifest": str(r.paths.tts_manifest(1)), "dialogue_track": str(track)},
            summary=f"pass=1 language={lang} lines={meta['lines']} voices={meta['voices']} "
                    f"overflow={meta['overflow_lines']}",
            engine=engine_summary(report, getattr(getattr(synth, "info", None), "version", "n/a")), metadata=meta)

    return run_stage(context, stage="tts_pass1", manifest_path=r.paths.manifest("tts_pass1"),
                     inputs={"translation": upstream_fingerprint(r.paths.manifest("translation"))},
                     params={"synthesizer": r.settings.synthesizer, "language": lang}, compute=compute,
                     checks=_fit_checks("pass1_lines_fit_slots"), isolate=True)


def _mix_checks(name: str):
    def checks(meta: dict) -> list[AssetCheckResult]:
        peak = float(meta.get("peak_dbfs", 0.0))
        return [AssetCheckResult(check_name=name, passed=peak <= -0.9,
                                 metadata={"peak_dbfs": peak, "integrated_lufs": meta.get("integrated_lufs", 0.0)})]
    return checks


def _mix(context, r, pass_no: int, out: Path, stage: str, checks):
    from dub_resources.mix import mix_over_background

    def compute() -> StageOutput:
        stats = mix_over_background(r.paths.dialogue_track(pass_no), r.paths.background, out)
        sep = (StageManifest(r.paths.manifest("stems")).load() or {}).get("metadata", {}).get("separated")
        bg = "bed" if sep else "full"
        return StageOutput(outputs={"mix": str(out)}, engine=EngineInfo("dub-mix", f"pyloudnorm {package_version('pyloudnorm')}"),
                           summary=f"background={bg} lufs={stats.integrated_lufs:.1f} peak={stats.peak_dbfs:.1f}dBFS",
                           metadata={**stats.to_dict(), "background": bg, "mix": str(out)})

    return run_stage(context, stage=stage, manifest_path=r.paths.manifest(stage),
                     inputs={"tts": upstream_fingerprint(r.paths.manifest(f"tts_pass{pass_no}")),
                             "stems": upstream_fingerprint(r.paths.manifest("stems"))},
                     params={"target_lufs": -23.0, "duck_db": -9.0}, compute=compute, checks=checks)


@asset(partitions_def=episode_partitions, group_name=GROUP_SPEAK, deps=[tts_pass1, stems],
       check_specs=[AssetCheckSpec("preview_no_clipping", asset="preview_mix")])
def preview_mix(context: AssetExecutionContext, dub: DubResource):
    """Pass-1 dialogue over the background stem: an acceptable preview before the character voices exist."""
    r = episode_run(context, dub)
    return _mix(context, r, 1, r.paths.preview_mix, "preview_mix", _mix_checks("preview_no_clipping"))


@asset(partitions_def=episode_partitions, group_name=GROUP_SPEAK,
       deps=[tts_pass1, voice_refs, translation, AssetDep(voice_memory, partition_mapping=series_mapping)],
       check_specs=[AssetCheckSpec("pass2_lines_fit_slots", asset="tts_pass2")])
def tts_pass2(context: AssetExecutionContext, dub: DubResource):
    """Each speaker's lines in its character's voice: XTTS clone when local weights exist, else WORLD voice matching
    of the pass-1 lines toward the character's refs. Per-speaker report: refs_used, clone_attempted/succeeded,
    fallback_reasons, providers, speaker similarity before/after."""
    from dub_resources.dubbing import engine_summary, run_pass2
    from dub_resources.paths import SeriesPaths
    from dub_resources.speaker_embedding import make_speaker_encoder
    from dub_resources.tts import make_cloner
    from dub_resources.voice_match import ProfileCache, WorldVoiceMatcher

    r = episode_run(context, dub)
    lang = r.reg.target_lang
    mapping_path = SeriesPaths(r.settings.output_dir, r.series).episode_mapping(r.episode)

    def compute() -> StageOutput:
        lines = _lines(r.paths)
        mapping = (read_json(mapping_path) or {}).get("speakers")
        fallbacks = []
        if mapping is None:
            fallbacks.append("no voice-memory mapping for episode; using the episode's own refs")
            own = read_json(r.paths.refs_manifest)["speakers"]
            mapping = {s: {"character_id": None, "refs": [x["wav"]]} for s, x in own.items()}
        refs = {s: [Path(p) for p in m["refs"]] for s, m in mapping.items()}
        chars = {s: m.get("character_id") for s, m in mapping.items()}
        pass1 = read_json(r.paths.tts_manifest(1))
        total = _duration(r.paths)
        cloner = make_cloner(r.settings)
        report = run_pass2(lines, lang, pass1, refs, chars, r.paths.tts_dir(2), total, cloner=cloner,
                           matcher=WorldVoiceMatcher(), encoder=make_speaker_encoder(),
                           profile_cache=ProfileCache(SeriesPaths(r.settings.output_dir, r.series).voice_profiles))
        rep = report.to_dict()
        rep["fallbacks"] = fallbacks
        write_json_atomic(r.paths.tts_manifest(2), rep)
        track = _render_track(r.paths, 2, rep, total)
        meta = _tts_meta(rep, track)
        meta["similarity_gain"] = {s: (None if v.get("similarity_after") is None else
                                       round(v["similarity_after"] - v["similarity_before"], 4))
                                   for s, v in rep["speakers"].items()}
        sims = ", ".join(f"{s}:{v.get('similarity_before')}->{v.get('similarity_after')}"
                         for s, v in rep["speakers"].items())
        return StageOutput(
            outputs={"manifest": str(r.paths.tts_manifest(2)), "dialogue_track": str(track)},
            summary=f"pass=2 language={lang} lines={meta['lines']} clone={'yes' if cloner else 'no'} "
                    f"similarity {sims}",
            engine=engine_summary(report, (cloner.info.version if cloner else WorldVoiceMatcher().info.version)),
            metadata=meta)

    return run_stage(context, stage="tts_pass2", manifest_path=r.paths.manifest("tts_pass2"),
                     inputs={"tts_pass1": upstream_fingerprint(r.paths.manifest("tts_pass1")),
                             "voice_refs": upstream_fingerprint(r.paths.manifest("voice_refs")),
                             "mapping": file_fingerprint(mapping_path) if mapping_path.exists() else None},
                     params={"language": lang, "models_dir": str(r.settings.models_dir or "")}, compute=compute,
                     checks=_fit_checks("pass2_lines_fit_slots"), isolate=True)


@asset(partitions_def=episode_partitions, group_name=GROUP_SPEAK, deps=[tts_pass2, stems],
       check_specs=[AssetCheckSpec("final_no_clipping", asset="final_mix")])
def final_mix(context: AssetExecutionContext, dub: DubResource):
    """Pass-2 dialogue over the background stem, ducked, loudness-normalised, peak-limited."""
    r = episode_run(context, dub)
    return _mix(context, r, 2, r.paths.final_mix, "final_mix", _mix_checks("final_no_clipping"))


def _video_checks(meta: dict) -> list[AssetCheckResult]:
    s = meta.get("streams", {})
    ok = s.get("audio", 0) >= 2 and s.get("subtitle", 0) >= 1 and (s.get("video", 0) >= 1 or not meta.get("has_video"))
    return [AssetCheckResult(check_name="expected_streams", passed=bool(ok), metadata={"streams": s})]


@asset(partitions_def=episode_partitions, group_name=GROUP_SPEAK, deps=[final_mix, translation, source_audio],
       check_specs=[AssetCheckSpec("expected_streams", asset="dubbed_video")])
def dubbed_video(context: AssetExecutionContext, dub: DubResource):
    """The episode with its video stream copied, the dubbed track (default), the original track and subtitles."""
    r = episode_run(context, dub)
    src, tgt = r.reg.source_lang, r.reg.target_lang

    def compute() -> StageOutput:
        probe = read_json(r.paths.probe)
        out = media.mux_dubbed_video(source=r.reg.source_path, has_video=probe["has_video"],
                                     dubbed_wav=r.paths.final_mix,
                                     subtitles_srt=r.paths.translation_srt(tgt), out_path=r.paths.dubbed_video,
                                     target_lang=tgt, source_lang=src,
                                     audio_codec=r.settings.dubbed_audio_codec)
        streams = media.stream_summary(out)
        counts: dict[str, int] = {}
        for s in streams:
            counts[s["type"]] = counts.get(s["type"], 0) + 1
        return StageOutput(outputs={"video": str(out)}, engine=media.engine_info(),
                           summary=f"video={out} streams={counts}",
                           metadata={"video": str(out), "has_video": probe["has_video"], "streams": counts,
                                     "tracks": streams, "size_mb": round(out.stat().st_size / 1e6, 2)})

    return run_stage(context, stage="dubbed_video", manifest_path=r.paths.manifest("dubbed_video"),
                     inputs={"final_mix": upstream_fingerprint(r.paths.manifest("final_mix")),
                             "translation": upstream_fingerprint(r.paths.manifest("translation")),
                             "source": upstream_fingerprint(r.paths.manifest("source"))},
                     params={"target": tgt, "source": src, "audio_codec": r.settings.dubbed_audio_codec},
                     compute=compute, checks=_video_checks)

"""Pass-1 listening half: source audio -> stems -> diarization / transcript -> translation -> voice refs."""


import json
from pathlib import Path

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, asset

from dub_resources import media
from dub_resources.audio import sum_error_db
from dub_resources.asr.base import REVISION as ASR_REVISION
from dub_resources.diarization.base import REVISION as DIARIZATION_REVISION
from dub_resources.diarization.base import Turn
from dub_resources.manifest import (
    StageManifest,
    atomic_path,
    file_fingerprint,
    write_json_atomic,
    write_text_atomic,
)
from dub_resources.segments import build_lines
from dub_resources.separation.base import REVISION as SEPARATION_REVISION

from ..partitions import episode_partitions
from ..resources import DubResource
from ..stage import StageOutput, run_stage, upstream_fingerprint
from .common import GROUP_LISTEN, episode_run


def speech_input(paths) -> tuple[str, str]:
    """The wav every speech stage analyses: the dialogue stem when separation succeeded, else the source."""
    meta = (StageManifest(paths.manifest("stems")).load() or {}).get("metadata", {})
    if meta.get("separated") and paths.dialogue_16k.exists():
        return str(paths.dialogue_16k), "dialogue"
    return str(paths.source_16k), "full"


@asset(partitions_def=episode_partitions, group_name=GROUP_LISTEN, kinds={"ffmpeg"})
def source_audio(context: AssetExecutionContext, dub: DubResource):
    """48 kHz stereo work copy + 16 kHz mono analysis copy of the episode's first audio stream, and its probe info."""
    r = episode_run(context, dub)
    src = r.reg.source_path

    def compute() -> StageOutput:
        info = media.probe(src)
        media.extract_audio(src, r.paths.source_48k, r.paths.source_16k)
        write_json_atomic(r.paths.probe, info.to_dict())
        return StageOutput(
            engine=media.engine_info(),
            outputs={"work_48k": str(r.paths.source_48k), "analysis_16k": str(r.paths.source_16k),
                     "probe": str(r.paths.probe)},
            summary=f"source={src} duration={info.duration_s:.1f}s video={info.has_video}",
            metadata={"source": src, "duration_s": round(info.duration_s, 3), "has_video": info.has_video,
                      "audio_codec": info.audio_codec or "?", "channels": info.channels or 0,
                      "work_copy": str(r.paths.source_48k)},
        )

    return run_stage(context, stage="source", manifest_path=r.paths.manifest("source"),
                     inputs={"source": file_fingerprint(src), "path": src}, params={}, compute=compute)


def _stems_checks(meta: dict) -> list[AssetCheckResult]:
    err = meta.get("reconstruction_error_db")
    passed = err is None or err < -30.0
    return [AssetCheckResult(check_name="stems_sum_to_source", passed=bool(passed),
                             metadata={"reconstruction_error_db": err if err is not None else "n/a",
                                       "separated": bool(meta.get("separated"))})]


@asset(partitions_def=episode_partitions, group_name=GROUP_LISTEN, deps=[source_audio],
       check_specs=[AssetCheckSpec("stems_sum_to_source", asset="stems")])
def stems(context: AssetExecutionContext, dub: DubResource):
    """Dialogue stem (speech estimate) and background stem (original minus dialogue, full band)."""
    from dub_resources.separation import make_separator, separate_with_fallback

    r = episode_run(context, dub)

    def compute() -> StageOutput:
        sep = make_separator(r.settings)
        res = separate_with_fallback(sep, r.paths.source_48k, r.paths.stems_dir, log=context.log)
        recon = sum_error_db(r.paths.source_48k, [res.dialogue_wav, res.background_wav])
        levels = {k: round(v, 2) for k, v in res.stats.items() if isinstance(v, (int, float))}
        return StageOutput(
            outputs={"dialogue": str(res.dialogue_wav), "dialogue_16k": str(r.paths.dialogue_16k),
                     "background": str(res.background_wav)},
            engine=res.engine,
            summary=f"separated={res.separated} engine={res.engine.name}",
            metadata={**res.stats, **levels, "separated": res.separated,
                      "reconstruction_error_db": round(recon, 1),
                      "dialogue": str(res.dialogue_wav), "background": str(res.background_wav)},
        )

    return run_stage(context, stage="stems", manifest_path=r.paths.manifest("stems"),
                     inputs={"source": upstream_fingerprint(r.paths.manifest("source"))},
                     params={"separator": r.settings.separator, "revision": SEPARATION_REVISION}, compute=compute, checks=_stems_checks)


def _diar_checks(meta: dict) -> list[AssetCheckResult]:
    n = int(meta.get("num_speakers", 0))
    return [AssetCheckResult(check_name="speakers_found", passed=n >= 1,
                             metadata={"num_speakers": n, "speech_s": meta.get("speech_s", 0.0)})]


@asset(partitions_def=episode_partitions, group_name=GROUP_LISTEN, deps=[stems],
       check_specs=[AssetCheckSpec("speakers_found", asset="diarization")])
def diarization(context: AssetExecutionContext, dub: DubResource):
    """Who spoke when, on the dialogue stem (RTTM + JSON; records input=dialogue|full)."""
    from dub_resources.diarization import make_diarizer

    r = episode_run(context, dub)
    wav, which = speech_input(r.paths)

    def compute() -> StageOutput:
        diarizer = make_diarizer(r.settings)
        res = diarizer.diarize(wav, num_speakers=r.settings.num_speakers)
        uri = f"{r.series}_{r.episode}"
        write_text_atomic(r.paths.diarization_rttm, res.to_rttm(uri))
        write_json_atomic(r.paths.diarization_json, {
            "input": which, "audio_path": wav, "engine": res.engine.to_dict(), "speakers": res.speakers,
            "turns": [t.to_dict() for t in res.turns], "stats": res.stats})
        speech = sum(t.end - t.start for t in res.turns)
        per = {s: round(sum(t.end - t.start for t in res.turns if t.speaker == s), 1) for s in res.speakers}
        return StageOutput(
            outputs={"json": str(r.paths.diarization_json), "rttm": str(r.paths.diarization_rttm)},
            engine=res.engine,
            summary=f"input={which} speakers={len(res.speakers)} engine={res.engine.name}",
            metadata={"input": which, "num_speakers": len(res.speakers), "turns": len(res.turns),
                      "speech_s": round(speech, 2), "speech_per_speaker": per, "rttm": str(r.paths.diarization_rttm)},
        )

    return run_stage(context, stage="diarization", manifest_path=r.paths.manifest("diarization"),
                     inputs={"stems": upstream_fingerprint(r.paths.manifest("stems"))},
                     params={"diarizer": r.settings.diarizer, "num_speakers": r.settings.num_speakers,
                             "revision": DIARIZATION_REVISION},
                     compute=compute, checks=_diar_checks, isolate=True)


@asset(partitions_def=episode_partitions, group_name=GROUP_LISTEN, deps=[stems])
def transcript(context: AssetExecutionContext, dub: DubResource):
    """ASR on the same speech wav as diarization: segments with word timestamps (JSON) and an SRT."""
    from dub_resources.asr import make_transcriber
    from dub_resources.subtitles import write_srt

    r = episode_run(context, dub)
    wav, which = speech_input(r.paths)
    lang = r.reg.source_lang

    def compute() -> StageOutput:
        tr = make_transcriber(r.settings, lang).transcribe(wav, language=lang)
        write_json_atomic(r.paths.transcript_json, {"input": which, "audio_path": wav, **tr.to_dict()})
        write_srt(r.paths.transcript_srt, [(s.start, s.end, s.text.strip()) for s in tr.segments])
        words = sum(len(s.words) for s in tr.segments)
        return StageOutput(
            outputs={"json": str(r.paths.transcript_json), "srt": str(r.paths.transcript_srt)},
            engine=tr.engine,
            summary=f"input={which} language={tr.language} segments={len(tr.segments)} words={words} "
                    f"engine={tr.engine.name}",
            metadata={"input": which, "language": tr.language, "segments": len(tr.segments), "words": words,
                      "preview": tr.text[:300], "srt": str(r.paths.transcript_srt)},
        )

    return run_stage(context, stage="transcript", manifest_path=r.paths.manifest("transcript"),
                     inputs={"stems": upstream_fingerprint(r.paths.manifest("stems"))},
                     params={"transcriber": r.settings.transcriber, "language": lang, "revision": ASR_REVISION},
                     compute=compute, isolate=True)


def _load_transcript(path):
    from dub_resources.asr.base import AsrSegment, Transcript, Word
    from dub_resources.engine import EngineInfo

    d = json.loads(open(path).read())
    segs = [AsrSegment(s["start"], s["end"], s["text"], [Word(**w) for w in s.get("words", [])])
            for s in d["segments"]]
    return Transcript(d["language"], segs, EngineInfo(**d["engine"]))


def load_turns(path) -> list[Turn]:
    return [Turn(**t) for t in json.loads(open(path).read())["turns"]]


def _translation_checks(meta: dict) -> list[AssetCheckResult]:
    empty = int(meta.get("empty_targets", 0))
    return [AssetCheckResult(check_name="every_line_translated", passed=empty == 0,
                             metadata={"lines": meta.get("lines", 0), "empty_targets": empty})]


@asset(partitions_def=episode_partitions, group_name=GROUP_LISTEN, deps=[transcript, diarization],
       check_specs=[AssetCheckSpec("every_line_translated", asset="translation")])
def translation(context: AssetExecutionContext, dub: DubResource):
    """Speaker-attributed lines translated to the target language: Parquet table (start, end, speaker, source text,
    target text), JSON and the target-language SRT."""
    from dub_resources.subtitles import write_srt
    from dub_resources.translation import make_translator

    r = episode_run(context, dub)
    src, tgt = r.reg.source_lang, r.reg.target_lang

    def compute() -> StageOutput:
        lines = build_lines(_load_transcript(r.paths.transcript_json), load_turns(r.paths.diarization_json))
        tr = make_translator(r.settings, src, tgt)
        targets = tr.translate([ln.source_text for ln in lines], src, tgt) if lines else []
        for ln, t in zip(lines, targets):
            ln.target_text = t.strip()
        rows = [ln.to_dict() for ln in lines]
        df = pd.DataFrame(rows, columns=["index", "start", "end", "speaker", "source_text", "target_text"])
        with atomic_path(r.paths.translation_parquet, ".parquet") as tmp:
            df.to_parquet(tmp, index=False)
        write_json_atomic(r.paths.translation_json, {"source_lang": src, "target_lang": tgt,
                                                     "engine": tr.info.to_dict(), "lines": rows})
        srt = r.paths.translation_srt(tgt)
        write_srt(srt, [(ln.start, ln.end, ln.target_text) for ln in lines])
        table = "| # | speaker | start | source | target |\n|---|---|---|---|---|\n" + "".join(
            f"| {ln.index} | {ln.speaker} | {ln.start:.1f} | {ln.source_text[:60]} | {ln.target_text[:60]} |\n"
            for ln in lines[:20])
        return StageOutput(
            outputs={"parquet": str(r.paths.translation_parquet), "json": str(r.paths.translation_json),
                     "srt": str(srt)},
            engine=tr.info,
            summary=f"{src}->{tgt} lines={len(lines)} engine={tr.info.name}",
            metadata={"pair": f"{src}->{tgt}", "lines": len(lines),
                      "empty_targets": sum(1 for ln in lines if not ln.target_text),
                      "speakers": len({ln.speaker for ln in lines}), "srt": str(srt), "lines_md": table},
        )

    return run_stage(context, stage="translation", manifest_path=r.paths.manifest("translation"),
                     inputs={"transcript": upstream_fingerprint(r.paths.manifest("transcript")),
                             "diarization": upstream_fingerprint(r.paths.manifest("diarization"))},
                     params={"translator": r.settings.translator, "source": src, "target": tgt},
                     compute=compute, checks=_translation_checks)


@asset(partitions_def=episode_partitions, group_name=GROUP_LISTEN, deps=[diarization, stems])
def voice_refs(context: AssetExecutionContext, dub: DubResource):
    """Per speaker, 6-12 s of the cleanest single-speaker speech from the dialogue stem, with a manifest."""
    from dub_resources.paths import SeriesPaths
    from dub_resources.voice_match import ProfileCache, WorldVoiceMatcher, profiles_for
    from dub_resources.voice_refs import extract_refs

    r = episode_run(context, dub)

    def compute() -> StageOutput:
        meta = (StageManifest(r.paths.manifest("stems")).load() or {}).get("metadata", {})
        src = r.paths.dialogue if meta.get("separated") else r.paths.source_48k
        refs = extract_refs(src, load_turns(r.paths.diarization_json), r.paths.refs_dir)
        # the refs' voice profiles (pass 2's targets) are computed here, once: a pass-2 rerun only reads them
        profiles_for(WorldVoiceMatcher(), [Path(x.wav) for x in refs],
                     ProfileCache(SeriesPaths(r.settings.output_dir, r.series).voice_profiles))
        write_json_atomic(r.paths.refs_manifest, {"input": "dialogue" if meta.get("separated") else "full",
                                                  "speakers": {x.speaker: x.to_dict() for x in refs}})
        warnings = sum(len(x.warnings) for x in refs)
        return StageOutput(
            outputs={"manifest": str(r.paths.refs_manifest), "refs": {x.speaker: x.wav for x in refs}},
            summary=f"speakers={len(refs)} warnings={warnings}",
            metadata={"speakers": len(refs), "warnings": warnings,
                      "ref_durations_s": {x.speaker: x.duration_s for x in refs},
                      "refs_md": "| speaker | ref s | speech s | level dB | warnings |\n|---|---|---|---|---|\n" + "".join(
                          f"| {x.speaker} | {x.duration_s} | {x.speech_total_s} | {x.level_db} | "
                          f"{'; '.join(x.warnings) or '-'} |\n" for x in refs)},
        )

    return run_stage(context, stage="voice_refs", manifest_path=r.paths.manifest("voice_refs"),
                     inputs={"diarization": upstream_fingerprint(r.paths.manifest("diarization")),
                             "stems": upstream_fingerprint(r.paths.manifest("stems"))},
                     params={"min_s": 6.0, "max_s": 12.0}, compute=compute)


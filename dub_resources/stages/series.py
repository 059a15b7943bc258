"""Series voice memory: speaker -> character for every episode of a series, persistent across episodes (opt-in)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DubError
from ..manifest import StageManifest, read_json, write_json_atomic
from .base import Plan, Stage, StageContext, StageResult, plan_from_choice

GROUP_SERIES = "series"


def _episodes_with_refs(ctx: StageContext) -> list[str]:
    root = ctx.series_paths.root
    if not root.exists():
        return []
    return sorted(d.name for d in root.iterdir() if (d / "voice_refs" / "manifest.json").exists())


def _store_root(ctx: StageContext) -> Path:
    return ctx.settings.voice_store_dir / ctx.series


def _inputs(ctx: StageContext) -> dict:
    sp = ctx.series_paths
    inputs = {ep: (StageManifest(sp.episode(ep).manifest("voice_refs")).load() or {}).get("fingerprint")
              for ep in _episodes_with_refs(ctx)}
    return inputs  # the store is this stage's own output (fingerprinting it made every run stale once)


def _plan(ctx: StageContext) -> Plan:
    from ..speaker_embedding import choose_speaker_encoder

    active = ctx.settings.voice_memory_active
    if active and ctx.settings.encryption_key:
        raise DubError("DUB_ENCRYPTION_KEY: the voice store cannot encrypt yet; unset the key or turn voice memory "
                       "off (DUB_VOICE_MEMORY=off) rather than store voices unencrypted")
    return plan_from_choice(choose_speaker_encoder(), ("dub_resources.voice_memory", "dub_resources.speaker_embedding"),
                            persistent=active, store=str(_store_root(ctx)) if active else None)


def _run(ctx: StageContext, plan: Plan) -> StageResult:
    from ..voice_memory import VoiceMemoryStore

    sp = ctx.series_paths
    episodes = _episodes_with_refs(ctx)
    active = plan.params["persistent"]
    encoder, name, fallbacks = plan.choice.build_with_fallback("speaker encoder")
    encoder.info.fallbacks[:0] = fallbacks
    threshold = float(encoder.same_speaker_threshold)
    store = VoiceMemoryStore(_store_root(ctx)) if active else None
    table, n_created = [], 0
    for ep in episodes:
        refs = read_json(sp.episode(ep).refs_manifest)["speakers"]
        mapping = {}
        if store is not None:
            speakers = {spk: (Path(x["wav"]), encoder.embed_file(x["wav"])) for spk, x in refs.items()}
            for a in store.assign_episode(ep, speakers, encoder.info.name, threshold):
                n_created += int(a.created)
                mapping[a.speaker] = {"character_id": a.character_id, "similarity": a.similarity,
                                      "created": a.created, "refs": [str(x) for x in store.ref_paths(a.character_id)]}
        else:
            for spk, x in refs.items():
                mapping[spk] = {"character_id": f"{ep}:{spk}", "similarity": None, "created": True, "refs": [x["wav"]]}
        write_json_atomic(sp.episode_mapping(ep), {"series": ctx.series, "episode": ep, "persistent": active,
                                                   "speakers": mapping})
        for spk, m in mapping.items():
            table.append((ep, spk, m["character_id"], m["similarity"]))
    chars = store.characters() if store is not None else []
    write_json_atomic(sp.voice_memory_summary, {
        "series": ctx.series, "persistent": active, "episodes": episodes,
        "characters": [c.to_dict() for c in chars], "threshold": threshold, "encoder": encoder.info.to_dict()})
    md = "| episode | speaker | character | similarity |\n|---|---|---|---|\n" + "".join(
        f"| {e} | {s} | {c} | {'-' if v is None else v} |\n" for e, s, c, v in table)
    return StageResult(
        outputs={"summary": str(sp.voice_memory_summary),
                 "mappings": {ep: str(sp.episode_mapping(ep)) for ep in episodes}},
        engine=encoder.info, degraded=name != plan.engine,
        summary=f"persistent={active} episodes={len(episodes)} characters={len(chars) if active else len(table)}"
                f" new={n_created}",
        metadata={"persistent": active, "episodes": len(episodes),
                  "characters": len(chars) if active else len(table), "new_characters": n_created,
                  "store": str(_store_root(ctx)) if active else "-", "mapping_md": md},
    )


VOICE_MEMORY = Stage(
    name="voice_memory", group=GROUP_SERIES, partition="series", upstream=("voice_refs",), isolate=True,
    description="Characters of the series (refs + embeddings) and each episode's speaker -> character mapping. With "
                "voice memory off (the default) or in privacy mode nothing is written to the store: each speaker is "
                "its own episode-local character.",
    outputs="<series>/voice_memory/summary.json, <series>/voice_memory/episodes/<episode>.json, the voice store",
    plan=_plan, run=_run, series_inputs=_inputs,
)

"""Series voice memory: speaker -> character for every episode of a series, persistent across episodes (opt-in)."""


from pathlib import Path

from dagster import AssetDep, AssetExecutionContext, asset

from dub_resources.manifest import StageManifest, file_fingerprint, read_json, write_json_atomic
from dub_resources.voice_memory import VoiceMemoryStore

from ..partitions import series_mapping, series_partitions
from ..resources import DubResource
from ..stage import StageOutput, run_stage
from .common import GROUP_SERIES, series_paths
from .listening import voice_refs


def _episodes_with_refs(series_root: Path) -> list[str]:
    if not series_root.exists():
        return []
    return sorted(d.name for d in series_root.iterdir() if (d / "voice_refs" / "manifest.json").exists())


@asset(partitions_def=series_partitions, group_name=GROUP_SERIES,
       deps=[AssetDep(voice_refs, partition_mapping=series_mapping)])
def voice_memory(context: AssetExecutionContext, dub: DubResource):
    """Characters of the series (refs + embeddings) and each episode's speaker -> character mapping.

    With voice memory off (the default) or in privacy mode, nothing is written to the store: each speaker is its own
    episode-local character and pass 2 uses the episode's own refs.
    """
    from dub_resources.speaker_embedding import make_speaker_encoder

    settings, sp = series_paths(context, dub)
    episodes = _episodes_with_refs(sp.root)
    active = settings.voice_memory_active
    store_root = settings.voice_store_dir / sp.series
    inputs = {ep: (StageManifest(sp.episode(ep).manifest("voice_refs")).load() or {}).get("fingerprint")
              for ep in episodes}
    if active and (store_root / "index.json").exists():
        inputs["_store_index"] = file_fingerprint(store_root / "index.json")

    def compute() -> StageOutput:
        encoder = make_speaker_encoder()
        threshold = float(getattr(encoder, "same_speaker_threshold", 0.7))
        store = VoiceMemoryStore(store_root) if active else None
        table, n_created = [], 0
        for ep in episodes:
            refs = read_json(sp.episode(ep).refs_manifest)["speakers"]
            mapping = {}
            if store is not None:
                speakers = {spk: (Path(x["wav"]), encoder.embed_file(x["wav"])) for spk, x in refs.items()}
                for a in store.assign_episode(ep, speakers, encoder.info.name, threshold):
                    n_created += int(a.created)
                    mapping[a.speaker] = {"character_id": a.character_id, "similarity": a.similarity,
                                          "created": a.created,
                                          "refs": [str(p) for p in store.ref_paths(a.character_id)]}
            else:
                for spk, x in refs.items():
                    mapping[spk] = {"character_id": f"{ep}:{spk}", "similarity": None, "created": True,
                                    "refs": [x["wav"]]}
            write_json_atomic(sp.episode_mapping(ep), {"series": sp.series, "episode": ep, "persistent": active,
                                                       "speakers": mapping})
            for spk, m in mapping.items():
                table.append((ep, spk, m["character_id"], m["similarity"]))
        chars = store.characters() if store is not None else []
        summary = {"series": sp.series, "persistent": active, "episodes": episodes,
                   "characters": [c.to_dict() for c in chars], "threshold": threshold,
                   "encoder": encoder.info.to_dict()}
        write_json_atomic(sp.voice_memory_summary, summary)
        md = "| episode | speaker | character | similarity |\n|---|---|---|---|\n" + "".join(
            f"| {e} | {s} | {c} | {'-' if v is None else v} |\n" for e, s, c, v in table)
        return StageOutput(
            outputs={"summary": str(sp.voice_memory_summary),
                     "mappings": {ep: str(sp.episode_mapping(ep)) for ep in episodes}},
            engine=encoder.info,
            summary=f"persistent={active} episodes={len(episodes)} characters={len(chars) if active else len(table)}"
                    f" new={n_created}",
            metadata={"persistent": active, "episodes": len(episodes),
                      "characters": len(chars) if active else len(table), "new_characters": n_created,
                      "store": str(store_root) if active else "-", "mapping_md": md},
        )

    return run_stage(context, stage="voice_memory", manifest_path=sp.root / "voice_memory" / "manifest.json",
                     inputs=inputs, params={"persistent": active, "store": str(store_root) if active else None},
                     compute=compute, isolate=True)

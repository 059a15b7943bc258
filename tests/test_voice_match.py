"""WORLD voice matching on real audio: Kokoro preset lines moved toward real LibriSpeech speakers must get closer to
them by a speaker encoder (resemblyzer), keep their duration, level and words, and never clip."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dub_resources.errors import EngineUnavailable  # noqa: E402
from dub_resources.tts import KokoroSynthesizer  # noqa: E402
from dub_resources.voice_match import VoiceProfile, WorldVoiceMatcher  # noqa: E402

EVAL = Path(os.environ.get("DUB_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared" / "eval"))
SPEAKERS = EVAL / "speakers"
ES_TEXT = "Hola, me llamo Carlos y vivo en Madrid con mi familia."  # ~3.4 s: enough for a speaker embedding
# (Kokoro voice, reference speaker): cross-gender pairs are the hardest and the most useful case
PAIRS = [("jf_alpha", "ls1688"), ("jm_kumo", "ls367")]


@pytest.fixture(scope="module")
def eval_speakers():
    if not SPEAKERS.is_dir():
        pytest.skip(f"eval data missing: {SPEAKERS}")
    return SPEAKERS


@pytest.fixture(scope="module")
def encoder():
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def _embed(encoder, paths: list[Path]) -> np.ndarray:
    from resemblyzer import preprocess_wav

    from dub_resources.audio import read_audio

    wavs = [preprocess_wav(read_audio(p, sr=16000, mono=True)[0], 16000) for p in paths]
    return encoder.embed_speaker(wavs) if len(wavs) > 1 else encoder.embed_utterance(wavs[0])


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    k = KokoroSynthesizer()
    try:
        k.check()
    except EngineUnavailable as e:
        pytest.skip(str(e))
    d = tmp_path_factory.mktemp("vm_lines")
    return {v: k.synthesize(ES_TEXT, "es", v, d / f"{v}.wav").wav for v, _ in PAIRS}


@pytest.fixture(scope="module")
def matcher():
    return WorldVoiceMatcher()


def _words(text: str) -> list[str]:
    t = unicodedata.normalize("NFKD", text.lower())
    return re.findall(r"[a-z0-9]+", "".join(c for c in t if not unicodedata.combining(c)))


def _whisper_es(path: Path) -> str:
    """Multilingual Whisper base, joined and loaded by the product's own ASR code."""
    from dub_resources.asr import load_model, whisper_base_dir

    model = load_model(whisper_base_dir())
    segs, _ = model.transcribe(str(path), language="es", beam_size=1)
    return " ".join(s.text for s in segs)


@pytest.fixture(scope="module")
def profiles(eval_speakers, matcher):
    """Target profiles from episode_a (profiled once per module: harvest F0 is the slow part)."""
    return {spk: matcher.profile(sorted((eval_speakers / "episode_a" / spk).glob("*.wav"))) for _, spk in PAIRS}


@pytest.fixture(scope="module")
def matched(lines, profiles, matcher, tmp_path_factory):
    d = tmp_path_factory.mktemp("vm_out")
    out = {}
    for voice, spk in PAIRS:
        path = d / f"{voice}_to_{spk}.wav"
        out[(voice, spk)] = (path, matcher.match(lines[voice], profiles[spk], path))
    return out


def test_profiles_separate_female_and_male(profiles):
    male, female = profiles["ls1688"], profiles["ls367"]
    print(f"profile ls1688 (M): {male.f0_median_hz:.0f} Hz, ls367 (F): {female.f0_median_hz:.0f} Hz")
    assert isinstance(male, VoiceProfile)
    assert female.f0_median_hz > male.f0_median_hz * 1.15
    for p in (male, female):
        assert 60 < p.f0_median_hz < 400 and 0.02 < p.f0_log_std < 0.6
        assert 80 < p.spectral_centroid_hz < 7600
        assert len(p.extra["env_log10"]) == 96 and p.extra["voiced_s"] > 3.0


def test_match_raises_similarity_to_reference(eval_speakers, lines, profiles, matched, matcher, encoder):
    gains = []
    for voice, spk in PAIRS:
        out, info = matched[(voice, spk)]
        # similarity is judged on the speaker's *other* utterances (episode_b), not the ones profiled
        ref = _embed(encoder, sorted((eval_speakers / "episode_b" / spk).glob("*.wav")))
        src = lines[voice]
        before = float(_embed(encoder, [src]) @ ref)
        after = float(_embed(encoder, [out]) @ ref)
        gains.append(after - before)
        print(
            f"{voice} -> {spk}: cosine {before:.3f} -> {after:.3f} (+{after - before:.3f}); "
            f"F0 {info['f0_source_hz']:.0f} -> {info['f0_target_hz']:.0f} Hz ({info['f0_shift_semitones']:+.1f} st), "
            f"formant warp {info['formant_warp']}, EQ max {info['eq_max_db']} dB"
        )
        assert after > before + 0.04, (voice, spk, before, after)
    assert np.mean(gains) > 0.06


def test_match_keeps_duration_level_and_moves_pitch(lines, profiles, matched, matcher):
    for voice, spk in PAIRS:
        out, info = matched[(voice, spk)]
        x, sr_in = sf.read(str(lines[voice]), dtype="float32")
        y, sr_out = sf.read(str(out), dtype="float32")
        assert sr_out == sr_in and len(y) == len(x)  # duration kept exactly
        assert np.isfinite(y).all()
        assert float(np.max(np.abs(y))) < 0.99 and float(np.mean(np.abs(y) > 0.98)) == 0.0  # no clipping
        rms = lambda a: 20 * np.log10(np.sqrt(np.mean(a.astype(np.float64) ** 2)) + 1e-12)  # noqa: E731
        print(f"{voice} -> {spk}: level {rms(x):.1f} -> {rms(y):.1f} dBFS, peak {np.max(np.abs(y)):.3f}")
        assert abs(rms(y) - rms(x)) < 1.5  # level kept
        got, target = matcher.profile(out), profiles[spk]
        # the mapping moves the mean of log F0 onto the target's: measure it on the output
        g, t = np.exp(got.extra["f0_log_mean"]), np.exp(target.extra["f0_log_mean"])
        print(f"  F0 (geometric mean) after {g:.0f} Hz, target {t:.0f} Hz; median {got.f0_median_hz:.0f} Hz")
        assert abs(np.log(g / t)) < np.log(1.10)  # pitch moved to the target (6.6% and 2.7% measured)


def test_matched_line_stays_intelligible(matched, tmp_path):
    pytest.importorskip("faster_whisper")
    out, _ = matched[("jm_kumo", "ls367")]  # the largest shift: ~+15 semitones
    text = _whisper_es(out)
    ref = _words(ES_TEXT)
    recall = sum(w in set(_words(text)) for w in ref) / len(ref)
    print(f"matched line whisper: {text!r}, recall {recall:.2f}")
    assert recall >= 0.8


def test_silent_line_passes_through(profiles, matcher, tmp_path):
    from dub_resources.audio import write_audio

    src = write_audio(tmp_path / "silence.wav", np.zeros(24000, np.float32), 24000)
    info = matcher.match(src, profiles["ls367"], tmp_path / "out.wav")
    y, sr = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert "skipped" in info and sr == 24000 and len(y) == 24000 and not np.any(y)


def test_profile_cache_computes_once_and_reads_back(eval_speakers, matcher, tmp_path, monkeypatch):
    """Ref profiles are kept by content: a second lookup (a pass-2 rerun) reads them instead of re-running WORLD."""
    from dub_resources.voice_match import ProfileCache, profiles_for

    wavs = [sorted((eval_speakers / "episode_a" / spk).glob("*.wav"))[0] for _, spk in PAIRS]
    cache = ProfileCache(tmp_path / "profiles")
    first = profiles_for(matcher, wavs, cache)
    assert all(isinstance(first[w], VoiceProfile) for w in wavs)
    assert len(list((tmp_path / "profiles").glob("*.json"))) == len(wavs)

    def no_world(*_a, **_k):
        raise AssertionError("profile recomputed despite a cache hit")

    monkeypatch.setattr(WorldVoiceMatcher, "profile", no_world)
    again = profiles_for(matcher, wavs, cache)
    for w in wavs:
        assert again[w].f0_median_hz == pytest.approx(first[w].f0_median_hz)
        assert again[w].extra["env_log10"] == first[w].extra["env_log10"]
    # a different recording is a miss, and the failure comes back per file instead of raising
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(800, np.float32), 16000)
    assert isinstance(profiles_for(matcher, [short], cache)[short], AssertionError)

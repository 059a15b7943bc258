"""Mixer on real audio: English utterances (eval/asr_en) placed over music (eval/separation backgrounds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from dub_resources.audio import read_audio, write_audio
from dub_resources.mix import LoudnessMeter, PlacedLine, limiter_curve, mix_over_background, render_dialogue_track

SR = 48000
LINE_A = ("asr_en/arctic_aew_a0001.flac", 3.0)  # ~3.9 s
LINE_B = ("asr_en/arctic_aew_a0002.flac", 9.0)  # ~4.0 s


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _line(eval_dir: Path, rel: str) -> np.ndarray:
    x, _ = read_audio(eval_dir / rel, sr=SR, mono=True)
    return x


@pytest.fixture(scope="module")
def scene(eval_dir, tmp_path_factory):
    """A dialogue track with two lines over the 15.6 s jazz background of mix01."""
    d = tmp_path_factory.mktemp("mix")
    background = eval_dir / "separation" / "mix01" / "background.wav"
    duration = sf.info(str(background)).duration
    lines = [PlacedLine(start, eval_dir / rel) for rel, start in (LINE_A, LINE_B)]
    dialogue = render_dialogue_track(lines, duration, d / "dialogue_track.wav")
    return {"dir": d, "background": background, "dialogue": dialogue, "duration": duration}


def test_lines_land_at_their_start_times(eval_dir, scene):
    track, sr = read_audio(scene["dialogue"], mono=True)
    assert sr == SR and track.shape[0] == round(scene["duration"] * SR)
    for rel, start in (LINE_A, LINE_B):
        x = _line(eval_dir, rel)
        s = int(round(start * SR))
        np.testing.assert_allclose(track[s : s + x.shape[0]], x, atol=1e-6)  # the line itself, sample-exact
    a_end = int(round(LINE_A[1] * SR)) + _line(eval_dir, LINE_A[0]).shape[0]
    assert np.all(track[: int(LINE_A[1] * SR)] == 0)  # nothing before the first line
    assert np.all(track[a_end : int(LINE_B[1] * SR)] == 0)  # nor between the lines
    assert _rms_db(track[int(3.5 * SR) : int(6.0 * SR)]) > -40  # energy inside the line's window


def test_overlapping_lines_add_and_gain_applies(eval_dir, tmp_path):
    rel = LINE_A[0]
    x = _line(eval_dir, rel)
    lines = [PlacedLine(0.5, eval_dir / rel), PlacedLine(1.0, eval_dir / rel, gain_db=-6.0),
             PlacedLine(5.0, eval_dir / rel)]  # the last one runs past the end: cut, not an error
    out = render_dialogue_track(lines, 6.0, tmp_path / "t.wav")
    y, _ = read_audio(out, mono=True)
    assert y.shape[0] == 6 * SR
    ref = np.zeros(6 * SR, np.float32)
    ref[SR // 2 : SR // 2 + x.shape[0]] += x
    ref[SR : SR + x.shape[0]] += x * np.float32(10 ** (-6 / 20))
    ref[5 * SR :] += x[: SR]
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_streaming_meter_matches_pyloudnorm(eval_dir):
    x, _ = read_audio(eval_dir / "separation" / "mix03" / "mixture.wav", sr=SR)
    x = np.repeat(x, 2, axis=1)
    m = LoudnessMeter(SR, 2)
    for i in range(0, x.shape[0], 12345):
        m.push(x[i : i + 12345])
    assert m.integrated() == pytest.approx(pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64)), abs=1e-6)


def test_mix_levels_ducking_and_length(scene):
    out = scene["dir"] / "mix.wav"
    stats = mix_over_background(scene["dialogue"], scene["background"], out, duck_db=-9.0, target_lufs=-23.0)
    y, sr = read_audio(out)
    info = sf.info(str(out))
    assert (sr, y.shape[1]) == (SR, 2)
    assert info.frames == round(scene["duration"] * SR)  # background length
    assert stats.duration_s == pytest.approx(scene["duration"], abs=1e-3)

    lufs = pyloudnorm.Meter(SR).integrated_loudness(y.astype(np.float64))
    assert abs(lufs + 23.0) <= 1.0, lufs
    assert stats.integrated_lufs == pytest.approx(lufs, abs=0.05)
    peak = float(np.abs(y).max())
    assert 20 * np.log10(peak) <= -1.0 + 1e-3
    assert stats.peak_dbfs <= -1.0

    # ducking: remove the (known) dialogue contribution and compare the background against the original
    assert stats.limited_fraction == 0.0  # so output = gain * (ducked background + dialogue) exactly
    g = 10 ** (stats.gain_db / 20)
    d, _ = read_audio(scene["dialogue"], mono=True)
    bg_out = y.mean(axis=1) - g * d
    bg_in, _ = read_audio(scene["background"], sr=SR, mono=True)
    n = min(bg_out.shape[0], bg_in.shape[0])
    t = np.arange(n) / SR
    a_len = 3.8  # inside the first line (3.0 .. ~6.9 s), away from the ramps
    under = (t > LINE_A[1] + 0.2) & (t < LINE_A[1] + a_len)
    clear = t < LINE_A[1] - 0.3
    change_under = _rms_db(bg_out[:n][under]) - _rms_db(g * bg_in[:n][under])
    change_clear = _rms_db(bg_out[:n][clear]) - _rms_db(g * bg_in[:n][clear])
    assert change_clear == pytest.approx(0.0, abs=0.5)  # untouched outside dialogue
    assert change_under == pytest.approx(-9.0, abs=1.0)  # ducked by duck_db under dialogue
    assert 0.4 < stats.ducked_fraction < 0.8  # two ~4 s lines (+ramps) on 15.6 s
    assert stats.dialogue_rms_db > stats.background_rms_db - 20


def test_loud_target_engages_the_limiter_without_clipping(eval_dir, tmp_path):
    # orchestral mixture as background, pushed to -12 LUFS: peaks must be limited, loudness still on target
    bg = eval_dir / "separation" / "mix02" / "mixture.wav"
    silent = write_audio(tmp_path / "nodialogue.wav", np.zeros(SR, np.float32), SR)
    out = tmp_path / "loud.wav"
    stats = mix_over_background(silent, bg, out, target_lufs=-12.0, true_peak_db=-1.0)
    y, _ = read_audio(out)
    assert stats.limited_fraction > 0.0
    assert float(np.abs(y).max()) <= 10 ** (-1 / 20) + 1e-4
    assert abs(pyloudnorm.Meter(SR).integrated_loudness(y.astype(np.float64)) + 12.0) <= 0.5  # made up after limiting
    assert stats.ducked_fraction == 0.0  # no dialogue, no ducking


def test_silence_gives_no_nan(tmp_path):
    bg = write_audio(tmp_path / "bg.wav", np.zeros((3 * SR, 2), np.float32), SR)
    dl = write_audio(tmp_path / "dl.wav", np.zeros(3 * SR, np.float32), SR)
    stats = mix_over_background(dl, bg, tmp_path / "out.wav")
    y, _ = read_audio(tmp_path / "out.wav")
    assert y.shape == (3 * SR, 2) and not np.any(y)
    assert stats.silent and stats.integrated_lufs == -70.0 and stats.gain_db == 0.0
    d = stats.to_dict()
    assert all(np.isfinite(v) for v in d.values()), d


def test_limiter_curve_bounds_every_frame():
    rng = np.random.default_rng(0)
    peaks = np.abs(rng.standard_normal(20000)).astype(np.float32) * 2
    g = limiter_curve(peaks, gain=1.5, ceiling=0.9)
    assert np.all(g * peaks * 1.5 <= 0.9 * (1 + 1e-5))
    assert g.max() <= 1.0 and g.min() > 0

"""Pass 2 on real speech: every line voice-matched toward its speaker's ref, the worker pool gives the same audio
as the serial path, and the per-speaker report has the fields the design asks for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dub_resources import dubbing
from dub_resources.audio import read_audio, write_audio
from dub_resources.voice_match import WorldVoiceMatcher


def _setup(tmp_path: Path, eval_dir: Path, n_lines: int):
    x, sr = read_audio(eval_dir / "asr_en" / "arctic_aew_a0001.flac", sr=24000, mono=True)
    x = x[: int(1.5 * sr)]
    p1_lines, lines = [], []
    for i in range(n_lines):
        wav = write_audio(tmp_path / "p1" / f"line_{i:04d}.wav", x, sr)
        spk = f"SPEAKER_0{i % 2}"
        p1_lines.append({"index": i, "speaker": spk, "voice": "v", "engine": "kokoro", "wav": str(wav), "speed": 1.0})
        lines.append({"index": i, "speaker": spk, "start": 2.0 * i, "end": 2.0 * i + 1.5, "target_text": "hola"})
    pass1 = {"lines": p1_lines, "speakers": {"SPEAKER_00": {"voice": "a"}, "SPEAKER_01": {"voice": "b"}}}
    spk_dirs = sorted((eval_dir / "speakers" / "episode_a").iterdir())
    refs = {"SPEAKER_00": [next(spk_dirs[0].glob("*.wav"))], "SPEAKER_01": [next(spk_dirs[3].glob("*.wav"))]}
    return lines, pass1, refs


def test_pass2_parallel_equals_serial(tmp_path, eval_dir, monkeypatch):
    n = dubbing.PARALLEL_MIN_LINES
    lines, pass1, refs = _setup(tmp_path, eval_dir, n)
    chars = {"SPEAKER_00": "CHAR_0001", "SPEAKER_01": "CHAR_0002"}
    par = dubbing.run_pass2(lines, "es", pass1, refs, chars, tmp_path / "par", 2.0 * n + 1, matcher=WorldVoiceMatcher())
    monkeypatch.setattr(dubbing, "PARALLEL_MIN_LINES", 10**6)
    ser = dubbing.run_pass2(lines, "es", pass1, refs, chars, tmp_path / "ser", 2.0 * n + 1, matcher=WorldVoiceMatcher())
    assert len(par.lines) == len(ser.lines) == n
    for a, b in zip(par.lines, ser.lines):
        assert a.engine == b.engine == "kokoro+world"
        xa, _ = read_audio(a.wav)
        xb, _ = read_audio(b.wav)
        assert xa.shape == xb.shape and np.allclose(xa, xb, atol=1e-4)
        assert abs(a.duration_s - 1.5) < 0.01
    for spk, rep in par.speakers.items():
        assert rep.refs_used and rep.voice_match == "world" and not rep.clone_attempted
        assert rep.character_id == chars[spk] and rep.lines == n // 2 and rep.fallback_reasons == []


def test_speaker_without_refs_keeps_preset_voice(tmp_path, eval_dir):
    lines, pass1, refs = _setup(tmp_path, eval_dir, 2)
    rep = dubbing.run_pass2(lines, "es", pass1, {"SPEAKER_00": refs["SPEAKER_00"]}, {}, tmp_path / "o", 5.0,
                            matcher=WorldVoiceMatcher())
    assert rep.speakers["SPEAKER_01"].fallback_reasons == ["no reference audio for speaker; kept preset voice"]
    assert rep.lines[1].engine == "kokoro" and Path(rep.lines[1].wav).exists()

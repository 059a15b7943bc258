"""The demo episode: real recorded 2-speaker speech (pyannote.audio's bundled sample) over a generated music bed,
with a generated picture, so `make demo` needs nothing but installed packages."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .audio import read_audio, write_audio
from .manifest import atomic_path
from .media import run_ffmpeg

SR = 48000


def pyannote_sample_wav() -> Path:
    import pyannote.audio.sample as sample

    p = Path(sample.__file__).parent / "sample.wav"
    if not p.exists():
        raise FileNotFoundError(f"{p}: pyannote.audio sample missing (is pyannote.audio installed?)")
    return p


def music_bed(duration_s: float, sr: int = SR, seed: int = 7) -> np.ndarray:
    """A soft stereo pad (I-vi-IV-V chords) with a light pulse: clearly music, clearly not speech."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    t = np.arange(n, dtype=np.float32) / sr
    chords = [(261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66)]
    bar = 2.0
    out = np.zeros((n, 2), dtype=np.float32)
    for i in range(int(np.ceil(duration_s / bar))):
        a, b = int(i * bar * sr), min(n, int((i + 1) * bar * sr))
        tt = t[a:b] - t[a]
        env = np.minimum(1.0, tt / 0.3) * np.minimum(1.0, (bar - tt) / 0.3)
        for k, f in enumerate(chords[i % 4]):
            detune = 1.0 + 0.002 * (k - 1)
            tone = np.sin(2 * np.pi * f * detune * tt) + 0.3 * np.sin(2 * np.pi * 2 * f * tt)
            out[a:b, 0] += (env * tone * (0.6 + 0.1 * k)).astype(np.float32)
            out[a:b, 1] += (env * tone * (0.8 - 0.1 * k)).astype(np.float32)
        # a soft hi-hat pulse on each beat
        for beat in range(4):
            s = a + int(beat * bar / 4 * sr)
            m = min(int(0.05 * sr), n - s)
            if m > 0:
                out[s : s + m] += (rng.standard_normal((m, 1)) * np.exp(-np.arange(m) / (0.01 * sr))[:, None]
                                   * 0.3).astype(np.float32)
    out /= np.max(np.abs(out)) + 1e-9
    return out


def build_demo_episode(out_dir: Path, bed_db: float = -18.0) -> Path:
    """Write out_dir/demo-show/demo.S01E01.mp4 (h264 + aac) and return its path."""
    speech, _ = read_audio(pyannote_sample_wav(), sr=SR, mono=True)
    dur = speech.size / SR
    bed = music_bed(dur)
    speech_rms = float(np.sqrt(np.mean(speech**2)))
    bed_rms = float(np.sqrt(np.mean(bed**2)))
    mix = speech[:, None] + bed * (speech_rms / bed_rms) * 10 ** (bed_db / 20)
    mix *= 0.7 / max(1e-6, float(np.max(np.abs(mix))))
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = write_audio(out_dir / "demo_audio.wav", mix.astype(np.float32), SR)
    video = out_dir / "demo-show" / "demo.S01E01.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(video, ".mp4") as tmp:
        run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={dur:.3f}", "-i", str(audio),
                    "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "160k", "-shortest", "-f", "mp4", str(tmp)], video)
    return video

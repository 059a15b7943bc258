"""Same request, same bytes: Piper's VITS noise, XTTS's GPT sampling and faster-whisper's temperature fallback are all
seeded or switched off, so rendering a line again (in this process or a fresh one) gives identical output."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dub_resources.errors import EngineUnavailable
from dub_resources.settings import Settings

REPO = Path(__file__).resolve().parents[1]
EN_LINE = "Hello, my name is John and I live in Chicago. Tomorrow we are going to visit the museum."


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- Piper ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def piper():
    from dub_resources.tts import PiperSynthesizer

    p = PiperSynthesizer()
    if not p.supports("en"):
        pytest.skip("piper voice wheel missing")
    try:
        p.check()
    except EngineUnavailable as e:
        pytest.skip(str(e))
    return p


def test_piper_graph_noise_is_an_input():
    """Both RandomNormalLike nodes of the VITS graph are rewritten into slices of seeded noise inputs."""
    pytest.importorskip("piper")
    from dub_resources.tts.piper import _fields, _voice_paths, seedable_model

    try:
        model, _ = _voice_paths()
    except EngineUnavailable as e:
        pytest.skip(str(e))
    data, noise = seedable_model(model.read_bytes())
    assert noise == ["dub_noise_0", "dub_noise_1"]
    graph = next(v for n, _, v, _ in _fields(data) if n == 7)
    ops = [next(v for n, _, v, _ in _fields(node) if n == 4).decode() for n, _, node, _ in _fields(graph) if n == 1]
    assert "RandomNormalLike" not in ops and ops.count("Tile") == 2
    import onnxruntime

    sess = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert {"dub_noise_0", "dub_noise_1"} <= {i.name for i in sess.get_inputs()}


@pytest.mark.parametrize("voice,text", [("joe", EN_LINE), ("joe+deep", "Good morning, doctor. How are you?")],
                         ids=["joe", "joe+deep"])
def test_piper_same_line_same_bytes(piper, voice, text, tmp_path):
    a = piper.synthesize(text, "en", voice, tmp_path / "a.wav")
    b = piper.synthesize(text, "en", voice, tmp_path / "b.wav")
    assert _sha(a.wav) == _sha(b.wav)
    y, sr = sf.read(str(a.wav), dtype="float32")
    assert sr == 22050 and len(y) > 1 * sr and np.abs(y).max() > 0.1  # real speech, not silence


def test_piper_noise_still_varies_with_the_line(piper, tmp_path):
    """Seeding is per line, not one fixed noise: the same text at another speed gets other noise (and length)."""
    a = piper.synthesize(EN_LINE, "en", "joe", tmp_path / "a.wav", speed=1.0)
    b = piper.synthesize(EN_LINE, "en", "joe", tmp_path / "b.wav", speed=1.05)
    assert _sha(a.wav) != _sha(b.wav)


def test_piper_same_bytes_in_a_fresh_process(piper, tmp_path):
    """A stable hash (not Python's salted hash()) seeds the noise: another interpreter renders the same bytes."""
    here = piper.synthesize(EN_LINE, "en", "joe", tmp_path / "here.wav")
    code = ("import sys; from pathlib import Path; from dub_resources.tts import PiperSynthesizer; "
            "PiperSynthesizer().synthesize(sys.argv[1], 'en', 'joe', Path(sys.argv[2]))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", code, EN_LINE, str(tmp_path / "there.wav")], cwd=REPO, env=env,
                   check=True, timeout=300)
    assert _sha(here.wav) == _sha(tmp_path / "there.wav")


# --- Kokoro: its ONNX graph has no random op, so it needs no seed; this keeps it that way -------------------------
def test_kokoro_same_line_same_bytes(tmp_path):
    from dub_resources.tts import KokoroSynthesizer

    k = KokoroSynthesizer()
    try:
        k.check()
    except EngineUnavailable as e:
        pytest.skip(str(e))
    if not k.supports("es"):
        pytest.skip("espeak-ng missing")
    text = "Hola, me llamo Carlos. ¿Qué tal?"
    a = k.synthesize(text, "es", "jf_alpha", tmp_path / "a.wav")
    b = k.synthesize(text, "es", "jf_alpha", tmp_path / "b.wav")
    assert _sha(a.wav) == _sha(b.wav)


# --- faster-whisper ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def en_clip(eval_dir, tmp_path_factory) -> Path:
    """A short real clip from eval/asr_en as 16 kHz mono wav (the transcriber's input format)."""
    from dub_resources.audio import resample

    src = eval_dir / "asr_en" / "arctic_aew_a0001.flac"
    if not src.is_file():
        pytest.skip(f"eval clip missing: {src}")
    y, sr = sf.read(str(src), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if sr != 16000:
        y = resample(y, sr, 16000)
    out = tmp_path_factory.mktemp("asr") / "clip.wav"
    sf.write(str(out), y, 16000)
    return out


@pytest.fixture()
def spy_transcribe(monkeypatch):
    """Record the keyword arguments each faster-whisper WhisperModel.transcribe call gets (the real call runs)."""
    from faster_whisper import WhisperModel

    calls: list[dict] = []
    original = WhisperModel.transcribe

    def spy(self, audio, *args, **kwargs):
        calls.append(dict(kwargs))
        return original(self, audio, *args, **kwargs)

    monkeypatch.setattr(WhisperModel, "transcribe", spy)
    return calls


def test_whisper_decodes_at_temperature_zero_only(en_clip, spy_transcribe):
    from dub_resources.asr.whisper import make_transcriber

    try:
        tr = make_transcriber(Settings(), "en")
    except EngineUnavailable as e:
        pytest.skip(str(e))
    assert tr.temperature == 0.0 and not tr.may_sample
    first = tr.transcribe(en_clip, "en").to_dict()
    second = tr.transcribe(en_clip, "en").to_dict()
    assert spy_transcribe and all(c.get("temperature") == 0.0 for c in spy_transcribe)  # no fallback list
    for d in (first, second):
        d["stats"].pop("wall_time_s")
        d["stats"].pop("rtf")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["stats"]["temperature"] == 0.0
    assert first["segments"] and "author" in " ".join(s["text"] for s in first["segments"]).lower()


def test_whisper_fallback_temperatures_are_opt_in(en_clip, spy_transcribe):
    from dub_resources.asr.whisper import FasterWhisperTranscriber, make_transcriber

    try:
        auto = make_transcriber(Settings(), "en")
    except EngineUnavailable as e:
        pytest.skip(str(e))
    temps = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    tr = FasterWhisperTranscriber(auto.model_name, auto.model_dir, temperature=temps)
    assert tr.temperature == temps and tr.may_sample
    out = tr.transcribe(en_clip, "en")
    assert spy_transcribe[-1]["temperature"] == list(temps)
    assert out.stats["temperature"] == list(temps)
    with pytest.raises(ValueError):
        FasterWhisperTranscriber(auto.model_name, auto.model_dir, temperature=())


# --- XTTS (tiny random-weight checkpoint: GPT sampling over 66 tokens is as random as it gets) ---------------------
from test_tts import _build_tiny_xtts  # noqa: E402 - the one tiny random-weight XTTS recipe of the suite


@pytest.mark.slow
def test_xtts_same_line_same_bytes(eval_dir, tmp_path):
    pytest.importorskip("TTS")
    import torch

    from dub_resources.tts import XttsSynthesizer

    ref = eval_dir / "speakers" / "episode_a" / "ls367" / "367-130732-0001.wav"
    if not ref.is_file():
        pytest.skip(f"eval data missing: {ref}")
    _build_tiny_xtts(tmp_path / "xtts")
    cloner = XttsSynthesizer(tmp_path / "xtts")
    cloner.check()
    text = "Hola mundo. Esto es una prueba."
    torch.manual_seed(1234)
    random.seed(99)
    before = (torch.get_rng_state().clone(), random.getstate(), torch.are_deterministic_algorithms_enabled())
    a = cloner.clone(text, "es", [ref], tmp_path / "a.wav")
    torch.manual_seed(777)  # whatever the callers did to the global generators in between
    np.random.seed(5)
    b = cloner.clone(text, "es", [ref], tmp_path / "b.wav")
    assert _sha(a.wav) == _sha(b.wav)
    c = cloner.clone("Otra frase distinta, nada que ver.", "es", [ref], tmp_path / "c.wav")
    assert _sha(c.wav) != _sha(a.wav)
    # the global generators are left as they were: seeding is local to each inference
    torch.manual_seed(1234)
    random.seed(99)
    cloner.clone(text, "es", [ref], tmp_path / "d.wav")
    after = (torch.get_rng_state(), random.getstate(), torch.are_deterministic_algorithms_enabled())
    assert torch.equal(before[0], after[0]) and before[1] == after[1] and before[2] == after[2]

"""Bad media files give one-line DubErrors naming the file and the cause (never a raw traceback), with real ffmpeg."""

from __future__ import annotations

import inspect
import pickle
import subprocess
from pathlib import Path

import pytest

from dub_resources import errors, media
from dub_resources.errors import DubError, InputError


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    c = {"av": d / "av.mkv", "video_only": d / "video_only.mkv", "dub": d / "dub.wav"}
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1", "-f", "lavfi", "-i",
            "sine=f=440:duration=1", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(c["av"]))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1", "-c:v", "libx264", str(c["video_only"]))
    _ffmpeg("-f", "lavfi", "-i", "sine=f=220:duration=1", "-ar", "48000", "-ac", "2", str(c["dub"]))
    return c


def _one_line_naming(exc: BaseException, path: Path | str) -> str:
    msg = str(exc)
    assert isinstance(exc, DubError), repr(exc)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_stream_summary_text_file_named_mkv(tmp_path):
    bad = tmp_path / "notes.mkv"
    bad.write_text("just some text, not a video\n")
    with pytest.raises(DubError) as ei:
        media.stream_summary(bad)
    msg = _one_line_naming(ei.value, bad)
    assert msg == f"{bad}: not a readable media file (Invalid data found when processing input)"


@pytest.mark.parametrize("fn", [media.stream_summary, media.probe])
def test_missing_empty_and_directory(tmp_path, fn):
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    for path, cause in ((tmp_path / "nope.mkv", "file not found"), (empty, "file is empty"),
                        (tmp_path, "not a regular file")):
        with pytest.raises(InputError) as ei:
            fn(path)
        assert str(ei.value) == f"{path}: {cause}"


def test_probe_bad_files(tmp_path, clips):
    bad = tmp_path / "notes.mkv"
    bad.write_text("hello\n")
    with pytest.raises(InputError) as ei:
        media.probe(bad)
    _one_line_naming(ei.value, bad)
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(clips["av"].read_bytes()[:200])
    with pytest.raises(InputError) as ei:
        media.probe(truncated)
    _one_line_naming(ei.value, truncated)
    with pytest.raises(InputError) as ei:
        media.probe(clips["video_only"])
    assert str(ei.value) == f"{clips['video_only']}: no audio stream"


def test_stream_summary_good_file(clips):
    assert [(s["type"], s["codec"]) for s in media.stream_summary(clips["av"])] == [("video", "h264"),
                                                                                    ("audio", "aac")]


def test_extract_audio_failures(tmp_path, clips):
    out48, out16 = tmp_path / "w" / "a48.wav", tmp_path / "w" / "a16.wav"
    with pytest.raises(InputError) as ei:
        media.extract_audio(clips["video_only"], out48, out16)
    msg = _one_line_naming(ei.value, clips["video_only"])
    assert msg.startswith(f"{clips['video_only']}: ffmpeg failed: no audio stream")
    bad = tmp_path / "notes.mkv"
    bad.write_text("hello\n")
    with pytest.raises(InputError) as ei:
        media.extract_audio(bad, out48, out16)
    assert str(ei.value) == f"{bad}: ffmpeg failed: Invalid data found when processing input"
    assert not out48.exists() and not out16.exists()
    assert sorted(p.name for p in out48.parent.iterdir()) == []  # no temp files left behind


def _mux(tmp_path: Path, clips, srt: Path | None, dubbed: Path | None = None, name: str = "out.mkv") -> Path:
    return media.mux_dubbed_video(source=clips["av"], has_video=True, dubbed_wav=dubbed or clips["dub"],
                                  subtitles_srt=srt, out_path=tmp_path / "v" / name, target_lang="es",
                                  source_lang="en")


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"])
def test_mux_with_empty_subtitles_keeps_a_valid_empty_track(tmp_path, clips, content):
    srt = tmp_path / "subs.es.srt"
    srt.write_text(content, encoding="utf-8")
    out = _mux(tmp_path, clips, srt)
    streams = media.stream_summary(out)
    assert [(s["type"], s["language"]) for s in streams] == [
        ("video", None), ("audio", "spa"), ("audio", "eng"), ("subtitle", "spa")]
    assert [s["default"] for s in streams[1:]] == [True, False, False]
    # the file is readable end to end
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(out), "-map", "0", "-c", "copy", "-f", "matroska",
                    str(tmp_path / "copy.mkv")], check=True)


def test_mux_with_cues_keeps_them(tmp_path, clips):
    srt = tmp_path / "subs.es.srt"
    srt.write_text("1\n00:00:00,100 --> 00:00:00,900\nHola\n", encoding="utf-8")
    out = _mux(tmp_path, clips, srt)
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(out), "-map", "0:s:0", "-f", "srt", "-"],
                       capture_output=True, text=True, check=True)
    assert "Hola" in r.stdout


def test_mux_failures_name_the_bad_input(tmp_path, clips):
    missing = tmp_path / "missing.srt"
    with pytest.raises(InputError) as ei:
        _mux(tmp_path, clips, missing)
    assert str(ei.value) == f"{missing}: ffmpeg failed: No such file or directory"
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_text("not audio")
    with pytest.raises(InputError) as ei:
        _mux(tmp_path, clips, None, dubbed=bad_wav)
    _one_line_naming(ei.value, bad_wav)
    assert not (tmp_path / "v" / "out.mkv").exists()


def test_mux_unwritable_output_is_one_line(tmp_path, clips):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DubError) as ei:
        media.mux_dubbed_video(source=clips["av"], has_video=True, dubbed_wav=clips["dub"], subtitles_srt=None,
                               out_path=blocker / "out.mkv", target_lang="es", source_lang="en")
    _one_line_naming(ei.value, blocker / "out.mkv")


def test_every_dub_error_is_picklable():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, DubError)]
    assert {c.__name__ for c in classes} >= {"DubError", "InputError", "InvalidName", "EngineUnavailable",
                                             "UnsupportedLanguagePair"}
    samples = {
        errors.InputError: ("/x.mkv", "no audio stream"),
        errors.InvalidName: ("series", "../x", "rule"),
        errors.UnsupportedLanguagePair: ("en", "xx", ["argos"]),
    }
    for cls in classes:
        exc = cls(*samples.get(cls, ("a message",)))
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is cls and str(back) == str(exc) and "\n" not in str(exc)
        assert back.__dict__ == exc.__dict__

"""Dubbing script construction: ASR words split at diarization speaker changes."""

from dub_resources.asr.base import AsrSegment, Transcript, Word
from dub_resources.diarization.base import Turn
from dub_resources.engine import EngineInfo
from dub_resources.paths import episode_key_from_name, slugify
from dub_resources.segments import build_lines


def _w(s, e, t):
    return Word(s, e, " " + t)


def test_lines_split_at_speaker_change():
    seg = AsrSegment(0.0, 4.0, "hello there how are you fine thanks",
                     [_w(0.0, 0.4, "hello"), _w(0.5, 0.9, "there"), _w(1.0, 1.3, "how"), _w(1.4, 1.6, "are"),
                      _w(1.7, 2.0, "you"), _w(2.6, 3.0, "fine"), _w(3.1, 3.6, "thanks")])
    turns = [Turn(0.0, 2.2, "SPEAKER_00"), Turn(2.4, 4.0, "SPEAKER_01")]
    lines = build_lines(Transcript("en", [seg], EngineInfo("t")), turns)
    assert [(ln.speaker, ln.source_text) for ln in lines] == [
        ("SPEAKER_00", "hello there how are you"), ("SPEAKER_01", "fine thanks")]
    assert lines[1].start == 2.6 and lines[1].end == 3.6


def test_one_word_blip_inside_a_sentence_joins_the_sentence():
    # "b" is wholly inside another speaker's 0.3 s turn: a sub-second piece of a sentence whose other words are
    # SPEAKER_00's is a diarization boundary error, so the sentence stays one line of SPEAKER_00
    seg = AsrSegment(0.0, 2.0, "a b c", [_w(0.0, 0.5, "a"), _w(0.6, 0.8, "b"), _w(0.9, 1.5, "c.")])
    turns = [Turn(0.0, 0.55, "SPEAKER_00"), Turn(0.55, 0.85, "SPEAKER_01"), Turn(0.85, 2.0, "SPEAKER_00")]
    lines = build_lines(Transcript("en", [seg], EngineInfo("t")), turns)
    assert len(lines) == 1 and lines[0].speaker == "SPEAKER_00" and lines[0].source_text == "a b c."


def test_names():
    assert episode_key_from_name("My.Show.S01E03.1080p.mkv") == "s01e03"
    assert episode_key_from_name("show_s2e10.wav") == "s02e10"
    assert episode_key_from_name("trailer.mp4") is None
    assert slugify("My Show (2024)") == "my-show-2024-f9ca47"  # title -> slug + hash of the title
    assert slugify("my-show-2024") == "my-show-2024"  # a valid slug is its own slug


def test_sentence_spanning_asr_segments_becomes_one_line():
    segs = [AsrSegment(0.0, 2.0, "you are allowed to use this", [_w(0.0, 0.3, "you"), _w(0.4, 0.6, "are"),
                                                                   _w(0.7, 1.2, "allowed"), _w(1.3, 1.9, "this")]),
            AsrSegment(2.0, 4.0, "voice for anything. Next", [_w(2.0, 2.4, "voice"), _w(2.5, 3.0, "anything."),
                                                               _w(3.1, 3.5, "Next"), _w(3.6, 4.4, "one"),
                                                               _w(4.5, 5.0, "please.")])]
    lines = build_lines(Transcript("en", segs, EngineInfo("t")), [Turn(0.0, 5.0, "SPEAKER_00")])
    assert [ln.source_text for ln in lines] == ["you are allowed this voice anything.", "Next one please."]
    assert [ln.index for ln in lines] == [0, 1]
    assert [w["text"] for w in lines[1].words] == ["Next", "one", "please."]  # the words keep their own times
    assert (lines[1].words[0]["start"], lines[1].words[-1]["end"]) == (3.1, 5.0)
    assert set(lines[0].to_dict()) >= {"index", "start", "end", "speaker", "source_text", "target_text", "words"}

"""SRT writer/reader: timestamps, numbering, wrapping, round trip, atomic write."""

from __future__ import annotations

import re

from dub_resources.subtitles import format_srt, format_timestamp, parse_timestamp, read_srt, wrap_text, write_srt

LONG = ("Well, I told you already that the train leaves at nine, so if we are late again "
        "we will miss it for sure")


def test_timestamps():
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(3661.5) == "01:01:01,500"
    assert format_timestamp(59.9996) == "00:01:00,000"  # rounds to the millisecond, carries into minutes
    assert format_timestamp(-2.0) == "00:00:00,000"
    assert format_timestamp(36000 + 0.007) == "10:00:00,007"
    assert parse_timestamp("01:01:01,500") == 3661.5
    for t in (0.0, 1.234, 75.5, 4000.001):
        assert abs(parse_timestamp(format_timestamp(t)) - t) < 5e-4


def test_wrap_two_balanced_lines():
    assert wrap_text("Short line.") == ["Short line."]
    lines = wrap_text("This sentence is somewhat longer than forty-two characters.")
    assert len(lines) == 2 and all(len(ln) <= 42 for ln in lines)
    assert abs(len(lines[0]) - len(lines[1])) < 15
    # over 84 chars: still two lines, nothing dropped
    lines = wrap_text(LONG)
    assert len(lines) == 2
    assert " ".join(lines).split() == LONG.split()
    assert wrap_text("   \n ") == []


def test_write_read_round_trip(tmp_path):
    cues = [
        (12.5, 14.25, "Second cue, out of order in the input."),
        (0.0, 2.0, "Hola, ¿cómo estás?"),
        (3.0, 3.0, "Zero-length cue gets a positive duration"),
        (4.0, 6.0, "   "),  # empty: skipped
        (7.0, 11.0, LONG),
        (3725.042, 3727.9, "Line with\nan embedded newline"),
    ]
    path = tmp_path / "sub" / "out.srt"
    write_srt(path, cues)
    assert [p.name for p in path.parent.iterdir()] == ["out.srt"]  # atomic: no temp file left
    text = path.read_text("utf-8")
    blocks = text.strip().split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == ["1", "2", "3", "4", "5"]
    for b in blocks:
        lines = b.split("\n")
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d", lines[1])
        assert 1 <= len(lines[2:]) <= 2
    back = read_srt(path)
    kept = sorted([c for c in cues if c[2].strip()], key=lambda c: c[0])
    assert len(back) == len(kept)
    for (s0, e0, t0), (s1, e1, t1) in zip(kept, back):
        assert abs(s1 - s0) < 1e-3
        assert e1 > s1 and (e0 <= s0 or abs(e1 - e0) < 1e-3)
        assert t1.split() == t0.split()
    assert "01:02:05,042 --> 01:02:07,900" in text
    assert back[0][2] == "Hola, ¿cómo estás?"
    # rewriting replaces the file (no append), empty cue list gives an empty file
    write_srt(path, [])
    assert path.read_text("utf-8") == "" and read_srt(path) == []


def test_read_srt_tolerates_crlf_bom_and_dot_millis(tmp_path):
    p = tmp_path / "x.srt"
    p.write_bytes(("\ufeff1\r\n00:00:01.000 --> 00:00:02,500\r\nOne\r\nTwo\r\n\r\n"
                   "2\r\n00:00:03,000 --> 00:00:04,000\r\nThree\r\n").encode("utf-8"))
    assert read_srt(p) == [(1.0, 2.5, "One\nTwo"), (3.0, 4.0, "Three")]
    assert format_srt([(0, 1, "a")]) == "1\n00:00:00,000 --> 00:00:01,000\na\n"

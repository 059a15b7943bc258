"""The line builder (dub_resources.segments.build_lines): exact rules on small word lists, and real Whisper output of
the shared episodes (eval/episodes) cut with the episodes' reference speaker turns and with the pipeline's diarizer."""

from __future__ import annotations

import json

import pytest

from benchmarks.sections import _episode_reference, line_scores
from dub_resources.asr.base import AsrSegment, Transcript, Word
from dub_resources.diarization.base import Turn
from dub_resources.engine import EngineInfo
from dub_resources.segments import MAX_LINE_S, MIN_FRAGMENT_S, build_lines, is_clause_end, is_sentence_end


def _t(words, lang="en"):
    """Transcript from (start, end, text) triples, cut into ASR segments of 4 words (segment cuts are ignored)."""
    ws = [Word(s, e, " " + t) for s, e, t in words]
    segs = [AsrSegment(ws[i].start, ws[min(i + 3, len(ws) - 1)].end, "", ws[i:i + 4]) for i in range(0, len(ws), 4)]
    return Transcript(lang, segs, EngineInfo("t"))


def _seq(text: str, start: float, step: float = 0.4, dur: float = 0.3):
    """Words of `text`, one every `step` seconds from `start`."""
    return [(round(start + k * step, 3), round(start + k * step + dur, 3), w) for k, w in enumerate(text.split())]


# --- exact rules --------------------------------------------------------------------------------------------------
def test_sentence_ends_and_abbreviations():
    assert is_sentence_end("silly.") and is_sentence_end("him?") and is_sentence_end('"No!"')
    assert not is_sentence_end("Mr.") and not is_sentence_end("J.") and not is_sentence_end("clearly,")
    assert is_clause_end("clearly,") and is_clause_end("so;") and not is_clause_end("so")


def test_speaker_change_mid_sentence_splits_at_the_change():
    words = _seq("Hello. Oh hello. I", 0.0) + _seq("didn't know you were there. Neither did I.", 2.0)
    turns = [Turn(0.0, 1.5, "A"), Turn(1.9, 6.0, "B")]
    lines = build_lines(_t(words), turns)
    # the example: not "Hello. Oh hello. I" | "didn't know you were there. Neither did I." but whole
    # sentences: "Hello." (under 1 s) joins A's next sentence, the sentence-opening "I" (under 1 s, on A's side of the
    # boundary) stays with its sentence, and B's two sentences are two lines
    assert [(ln.speaker, ln.source_text) for ln in lines] == [
        ("A", "Hello. Oh hello."), ("B", "I didn't know you were there."), ("B", "Neither did I.")]
    # a speaker change mid-sentence with enough speech on both sides is cut there
    words = _seq("We should go to the market now", 0.0) + _seq("before it closes for the night.", 3.0)
    lines = build_lines(_t(words), [Turn(0.0, 2.9, "A"), Turn(2.9, 6.0, "B")])
    assert [(ln.speaker, ln.source_text) for ln in lines] == [
        ("A", "We should go to the market now"), ("B", "before it closes for the night.")]


def test_word_goes_to_the_speaker_holding_most_of_it_else_nearest():
    words = [(0.0, 0.5, "Good"), (0.5, 1.0, "morning"), (1.1, 2.0, "everyone."), (3.0, 3.4, "Three"),
             (3.5, 4.2, "four."), (9.0, 9.5, "Five"), (9.6, 10.2, "six.")]
    turns = [Turn(0.0, 1.4, "A"), Turn(1.4, 4.5, "B"), Turn(11.0, 12.0, "C")]
    lines = build_lines(_t(words), turns)
    # "everyone." is 0.3 s in A and 0.6 s in B: B holds most of it, but as a sub-second piece of A's sentence it
    # stays in A's line; "Three four." is B's; the words in no turn go to the nearest turn's speaker, C
    assert [(ln.speaker, ln.source_text) for ln in lines] == [
        ("A", "Good morning everyone."), ("B", "Three four."), ("C", "Five six.")]


def test_long_sentence_is_split_at_a_clause_never_inside_a_word():
    text = "I knew well enough that he might be carried a thousand miles in the box car, locked in perhaps " \
           "without water or food."
    words = _seq(text, 0.0, step=0.5)  # 22 words, 10.8 s
    lines = build_lines(_t(words), [Turn(0.0, 12.0, "A")])
    assert len(lines) == 2 and all(ln.end - ln.start <= MAX_LINE_S for ln in lines)
    assert lines[0].source_text.endswith("box car,") and lines[1].source_text.startswith("locked")
    assert " ".join(ln.source_text for ln in lines) == text  # every word once, in order
    # no comma: the conjunction; a smaller maximum splits again
    words = _seq("we walked all day long and then we rested a while by the river under the trees", 0.0, step=0.6)
    lines = build_lines(_t(words), [Turn(0.0, 12.0, "A")])
    from dub_resources.segments import CONJUNCTIONS

    assert len(lines) == 2 and lines[1].source_text.split()[0] in CONJUNCTIONS["en"]
    lines = build_lines(_t(words), [Turn(0.0, 12.0, "A")], max_line_s=3.0)
    assert len(lines) >= 3 and all(ln.end - ln.start <= 3.0 for ln in lines)


def test_long_sentence_without_clause_is_split_at_its_longest_pause():
    words = _seq("one two three four five six seven", 0.0, step=0.6) + _seq("eight nine ten eleven twelve", 6.0,
                                                                           step=0.6)
    lines = build_lines(_t(words), [Turn(0.0, 9.0, "A")])
    assert [ln.source_text for ln in lines] == ["one two three four five six seven", "eight nine ten eleven twelve"]


def test_short_fragment_is_merged_into_its_same_speaker_neighbour():
    words = [(0.0, 0.4, "Yes."), (0.9, 1.2, "I"), (1.3, 1.6, "think"), (1.7, 2.2, "so."), (3.0, 3.3, "Well."),
             (3.4, 3.5, "No.")]
    turns = [Turn(0.0, 2.5, "A"), Turn(2.9, 3.6, "B")]
    lines = build_lines(_t(words), turns)
    assert [(ln.speaker, ln.source_text) for ln in lines] == [("A", "Yes. I think so."), ("B", "Well. No.")]
    # a short reply by another speaker that is its own sentence stays its own line
    words = [(0.0, 0.5, "Are"), (0.6, 1.0, "you"), (1.1, 1.6, "coming?"), (2.0, 2.4, "Yes.")]
    lines = build_lines(_t(words), [Turn(0.0, 1.7, "A"), Turn(1.9, 2.5, "B")])
    assert [(ln.speaker, ln.source_text) for ln in lines] == [("A", "Are you coming?"), ("B", "Yes.")]
    # no merge across the maximum: the fragment stays alone
    words = _seq("a b c d e f g h i j k l m n o p q r s t.", 0.0, step=0.4) + [(8.5, 8.8, "Yes.")]
    lines = build_lines(_t(words), [Turn(0.0, 9.0, "A")])
    assert all(ln.end - ln.start <= MAX_LINE_S for ln in lines)


def test_line_span_is_narrowed_to_the_speakers_turns_words_keep_their_times():
    words = [(0.5, 1.9, "Hello"), (2.0, 2.4, "there."), (3.0, 3.4, "Bye"), (3.5, 5.5, "now.")]
    lines = build_lines(_t(words), [Turn(1.2, 2.5, "A"), Turn(2.9, 4.4, "B")])
    assert (lines[0].start, lines[0].end) == (1.2, 2.4) and (lines[1].start, lines[1].end) == (3.0, 4.4)
    assert lines[0].words[0] == {"start": 0.5, "end": 1.9, "text": "Hello"}


def test_empty_and_turnless():
    assert build_lines(_t([]), [Turn(0, 1, "A")]) == []
    lines = build_lines(_t([(0.0, 0.5, "Hi."), (0.6, 1.5, "Yes.")]), [])
    assert [ln.speaker for ln in lines] == ["SPEAKER_00"]


def test_line_scores_metrics():
    from dub_resources.segments import Line

    ref = [(0.0, 2.0, "A"), (2.0, 4.0, "B")]

    def line(i, s, e, spk, words):
        return Line(i, s, e, spk, " ".join(w[2] for w in words),
                    words=[{"start": a, "end": b, "text": t} for a, b, t in words])

    good = [line(0, 0.0, 2.0, "x", [(0.0, 0.9, "one"), (1.0, 2.0, "two.")]),
            line(1, 2.0, 4.0, "y", [(2.0, 3.0, "three"), (3.0, 4.0, "four.")])]
    sc = line_scores(good, ref)
    assert sc["speaker_purity"] == 1.0 and sc["cross_speaker_lines"] == 0 and sc["split_sentences"] == 0.0
    bad = [line(0, 0.0, 3.0, "x", [(0.0, 0.9, "one"), (1.0, 2.0, "two"), (2.0, 3.0, "three")]),
           line(1, 3.0, 4.0, "y", [(3.0, 4.0, "four.")])]
    sc = line_scores(bad, ref)
    assert sc["speaker_purity"] == pytest.approx(3.0 / 4.0) and sc["cross_speaker_lines"] == 1
    assert sc["split_sentences"] == 0.5  # B's sentence cut after "three" (no punctuation, no pause)


# --- real Whisper output of the shared episodes ------------------------------------------------------------------
@pytest.fixture(scope="module")
def episodes(eval_path):
    """{episode: (transcript, reference turns)}: Whisper (the pipeline's own transcriber) on each episode wav."""
    from dub_resources.asr import make_transcriber
    from dub_resources.settings import Settings

    tr = make_transcriber(Settings(), "en")
    out = {}
    for ep in ("s01e01", "s01e02"):
        js = eval_path("episodes", "shared-show", f"{ep}.json")
        out[ep] = (tr.transcribe(js.with_suffix(".wav"), language="en"), _episode_reference(js))
    return out


def _turns(ref):
    return [Turn(s, e, spk) for s, e, spk in ref]


def test_real_episodes_with_reference_turns_meet_the_targets(episodes):
    for ep, (transcript, ref) in episodes.items():
        lines = build_lines(transcript, _turns(ref))
        sc = line_scores(lines, ref)
        assert sc["speaker_purity"] >= 0.98, (ep, sc)
        assert sc["cross_speaker_lines"] == 0, (ep, sc)
        assert sc["split_sentences"] <= 0.05, (ep, sc)
        n_words = sum(len(s.words) for s in transcript.segments)
        assert sum(len(ln.words) for ln in lines) == n_words  # every word once
        for ln in lines:
            assert ln.end - ln.start <= MAX_LINE_S + 1e-6, (ep, ln)
            assert ln.words and ln.start <= ln.end


def test_real_sentence_across_a_speaker_change_is_cut_there(episodes):
    # s01e01: Whisper writes ls533's "When church yards yawn," and ls2033's "replied he, ..." as one sentence
    transcript, ref = episodes["s01e01"]
    words = [w for s in transcript.segments for w in s.words]
    assert any(w.text.strip().lower().startswith("replied") for w in words)
    cross = [k for k in range(len(words) - 1) if not is_sentence_end(words[k].text)
             and _spk(ref, words[k]) != _spk(ref, words[k + 1]) and None not in (_spk(ref, words[k]),
                                                                                  _spk(ref, words[k + 1]))]
    assert cross, "the episode has a speaker change inside a sentence"
    lines = build_lines(transcript, _turns(ref))
    for k in cross:  # a line boundary falls exactly there
        owner = [i for i, ln in enumerate(lines) if any(w["start"] == words[k].start for w in ln.words)][0]
        assert lines[owner].words[-1]["start"] == words[k].start
        assert lines[owner + 1].words[0]["start"] == words[k + 1].start
        assert lines[owner].speaker != lines[owner + 1].speaker


def _spk(ref, w):
    best, ov = None, 0.0
    for s, e, spk in ref:
        o = min(w.end, e) - max(w.start, s)
        if o > ov:
            best, ov = spk, o
    return best


def test_real_long_sentence_split_at_clauses(episodes):
    transcript, ref = episodes["s01e01"]
    for max_s in (MAX_LINE_S, 4.0):
        lines = build_lines(transcript, _turns(ref), max_line_s=max_s)
        for a, b in zip(lines, lines[1:]) if max_s == MAX_LINE_S else ():
            if a.speaker == b.speaker and not is_sentence_end(a.words[-1]["text"]):
                # a cut inside one speaker's sentence: after a clause mark, before a conjunction or at a pause
                nxt = b.words[0]["text"].lower().strip(",.")
                pause = b.words[0]["start"] - a.words[-1]["end"]
                assert is_clause_end(a.words[-1]["text"]) or nxt in ("and", "but", "or", "so", "when", "that",
                                                                     "which", "who", "then") or pause > 0.2, (a, b)
        assert all(ln.end - ln.start <= max_s + 1e-6 or len(ln.words) == 1 for ln in lines)
    assert len(build_lines(transcript, _turns(ref), max_line_s=4.0)) > len(build_lines(transcript, _turns(ref)))


def test_real_short_fragments_have_no_same_speaker_neighbour_left(episodes):
    for ep, (transcript, ref) in episodes.items():
        lines = build_lines(transcript, _turns(ref))
        for k, ln in enumerate(lines):
            if ln.end - ln.start >= MIN_FRAGMENT_S:
                continue
            for j in (k - 1, k + 1):
                if 0 <= j < len(lines) and lines[j].speaker == ln.speaker:
                    both = [*ln.words, *lines[j].words]
                    span = max(w["end"] for w in both) - min(w["start"] for w in both)
                    assert span > MAX_LINE_S, (ep, ln, lines[j])


@pytest.mark.slow
def test_real_episode_with_the_pipeline_diarizer(episodes):
    """ASR + the pipeline's own diarizer on s01e01: the bench's `lines` section in small."""
    from dub_resources.diarization import make_diarizer
    from dub_resources.settings import Settings

    transcript, ref = episodes["s01e01"]
    wav = _wav("s01e01", episodes)
    turns = make_diarizer(Settings()).diarize(wav).turns
    sc = line_scores(build_lines(transcript, turns), ref)
    assert sc["speaker_purity"] >= 0.95 and sc["cross_speaker_lines"] == 0, sc


def _wav(ep, episodes):
    from tests.conftest import EVAL

    return EVAL / "episodes" / "shared-show" / f"{ep}.wav"


def test_translation_json_carries_words(tmp_path):
    """Lines serialise with their words (what the translation stage writes)."""
    lines = build_lines(_t([(0.0, 0.5, "Hi"), (0.6, 1.2, "there.")]), [Turn(0, 2, "A")])
    d = json.loads(json.dumps([ln.to_dict() for ln in lines]))
    assert d[0]["words"][1] == {"start": 0.6, "end": 1.2, "text": "there."}

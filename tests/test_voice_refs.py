"""Voice refs on real speech (pyannote's 2-speaker sample with its reference turns): 6-12 s per speaker, only
overlap-free pieces, written as wavs with a level that is speech, not silence."""

from dub_resources.audio import duration_s, read_audio, rms_db
from dub_resources.demo import pyannote_sample_wav
from dub_resources.diarization.base import Turn
from dub_resources.voice_refs import MAX_REF_S, clean_intervals, extract_refs


def _turns():
    rttm = (pyannote_sample_wav().parent / "sample.rttm").read_text().splitlines()
    return [Turn(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in (ln.split() for ln in rttm)]


def test_refs_are_clean_and_sized(tmp_path):
    turns = _turns()
    refs = extract_refs(pyannote_sample_wav(), turns, tmp_path)
    assert {r.speaker for r in refs} == {"speaker90", "speaker91"}
    for r in refs:
        assert 6.0 <= r.duration_s <= MAX_REF_S, r
        assert abs(duration_s(r.wav) - r.duration_s) < 0.12 * len(r.pieces) + 0.05
        others = [t for t in turns if t.speaker != r.speaker]
        for s, e in r.pieces:
            assert all(e <= t.start or s >= t.end for t in others), (r.speaker, s, e)
        x, _ = read_audio(r.wav, mono=True)
        assert rms_db(x) > -40 and not r.warnings


def test_clean_intervals_cut_out_overlap():
    turns = [Turn(0.0, 5.0, "A"), Turn(2.0, 3.0, "B")]
    assert [(round(s, 2), round(e, 2)) for s, e in clean_intervals(turns, "A")] == [(0.08, 2.0), (3.0, 4.92)]
    assert clean_intervals(turns, "B") == []  # B only ever speaks over A

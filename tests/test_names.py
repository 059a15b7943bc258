"""Series slugs keep different shows apart; every series/episode key is validated where paths are built."""

from __future__ import annotations

import json
import pickle
import threading

import pytest

from dub_resources.errors import DubError, InvalidName
from dub_resources.paths import SLUG_RE, EpisodePaths, SeriesPaths, slugify, title_hash, validate_slug
from dub_resources.registry import load_registration, register_episode

JAPANESE = "進撃の巨人"
JAPANESE_2 = "鬼滅の刃"
GREEK = "Η Οικογένεια"
GREEK_2 = "Ο Θησαυρός"


def test_spellings_of_one_name_get_distinct_slugs():
    slugs = [slugify("My Show"), slugify("my_show"), slugify("My-Show")]
    assert len(set(slugs)) == 3
    assert slugs[1] == "my_show"  # already a valid slug: itself
    assert slugs[0] == f"my-show-{title_hash('My Show')}"
    assert slugs[2] == f"my-show-{title_hash('My-Show')}"
    assert all(SLUG_RE.fullmatch(s) for s in slugs)


def test_valid_slug_maps_to_itself():
    for s in ("my-show", "demo-show", "show", "a.b_c-1", "x" * 64):
        assert slugify(s) == s


def test_unicode_titles_are_distinct_and_valid():
    titles = [JAPANESE, JAPANESE_2, GREEK, GREEK_2, "Café", "Cafe", "CAFÉ", "", "!!!", "???"]
    slugs = [slugify(t) for t in titles]
    assert len(set(slugs)) == len(titles)
    assert all(SLUG_RE.fullmatch(s) for s in slugs), slugs
    assert slugify(JAPANESE) == f"series-{title_hash(JAPANESE)}"
    assert slugify(GREEK) == f"series-{title_hash(GREEK)}"
    assert slugify("Café") == f"cafe-{title_hash('Café')}"  # accents transliterated
    assert slugify("Ｍｙ Ｓｈｏｗ").startswith("my-show-")  # full-width letters (NFKD)
    assert "series" not in slugs


def test_same_title_same_slug_stable():
    # Fixed values: the slug must not change between runs, machines or Python versions (no hash randomisation).
    assert slugify("My Show") == "my-show-" + title_hash("My Show") == slugify("My Show")
    assert title_hash("My Show") == "99b63d"
    assert slugify(JAPANESE) == slugify(JAPANESE)
    # NFC and NFD spellings of one title are one title
    assert slugify("Cafe\u0301") == slugify("Caf\u00e9")


def test_long_title_slug_fits():
    s = slugify("The " + "Very " * 40 + "Long Show")
    assert SLUG_RE.fullmatch(s) and len(s) <= 64 and s.endswith("-" + title_hash("The " + "Very " * 40 + "Long Show"))
    assert slugify("x" * 65) != slugify("x" * 66)


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".", "", "/tmp/x", "My Show", "-x", "x\n", "x" * 65, "a\\b"])
def test_paths_reject_unsafe_keys(bad):
    with pytest.raises(InvalidName) as ei:
        EpisodePaths("/tmp/o", bad, "s01e01")
    assert "\n" not in str(ei.value) and str(ei.value).startswith("series ")
    with pytest.raises(InvalidName):
        EpisodePaths("/tmp/o", "show", bad)
    with pytest.raises(InvalidName):
        SeriesPaths("/tmp/o", bad)
    with pytest.raises(InvalidName):
        SeriesPaths("/tmp/o", "show").episode_mapping(bad)
    with pytest.raises(InvalidName):
        SeriesPaths("/tmp/o", "show").episode(bad)


def test_invalid_name_message_and_pickle():
    with pytest.raises(InvalidName) as ei:
        EpisodePaths("/tmp/o", "../x", "s01e01")
    assert str(ei.value) == ("series '../x': invalid name: use lower-case letters, digits, '.', '_' or '-' "
                             "(max 64, starting with a letter or digit)")
    assert isinstance(ei.value, DubError)
    back = pickle.loads(pickle.dumps(ei.value))
    assert type(back) is InvalidName and str(back) == str(ei.value) and back.value == "../x"
    assert validate_slug("episode", "s01e01") == "s01e01"
    with pytest.raises(InvalidName, match=r"^episode None: invalid name"):
        validate_slug("episode", None)  # type: ignore[arg-type]


def test_paths_stay_inside_output(tmp_path):
    p = EpisodePaths(str(tmp_path), "show", "s01e01")  # a str output dir works too
    assert p.root == tmp_path / "show" / "s01e01"
    assert p.dubbed_video.resolve().is_relative_to(tmp_path)


@pytest.fixture
def src(tmp_path):
    f = tmp_path / "in" / "ep.s01e01.wav"
    f.parent.mkdir()
    f.write_bytes(b"RIFF")
    return f


def test_register_records_title_and_series(tmp_path, src):
    out = tmp_path / "out"
    slug = slugify("My Show")
    reg = register_episode(out, slug, "s01e01", src, "en", "es", series_title="My Show")
    assert reg.series_title == "My Show"
    assert json.loads((out / slug / "series.json").read_text()) == {"slug": slug, "title": "My Show"}
    loaded = load_registration(out, slug, "s01e01")
    assert loaded == reg and loaded.series_title == "My Show"
    # the same title again (another episode, or the same one re-registered) is fine
    register_episode(out, slug, "s01e02", src, "en", "es", series_title="My Show")
    register_episode(out, slug, "s01e01", src, "en", "es", series_title="My Show")
    # naming the slug directly (positional signature, no title) joins the series and reports its title
    reg3 = register_episode(out, slug, "s01e03", src, "en", "es")
    assert reg3.series_title == "My Show"
    assert sorted(p.name for p in (out / slug).iterdir() if not p.name.startswith(".")) == [
        "s01e01", "s01e02", "s01e03", "series.json"]


def test_register_refuses_other_title_for_same_slug(tmp_path, src):
    out = tmp_path / "out"
    register_episode(out, "my-show", "s01e01", src, "en", "es", series_title="My Show")
    with pytest.raises(DubError) as ei:
        register_episode(out, "my-show", "s01e02", src, "en", "es", series_title="My-Show")
    msg = str(ei.value)
    assert "\n" not in msg and "'my-show'" in msg and "'My Show'" in msg and "'My-Show'" in msg
    assert not (out / "my-show" / "s01e02").exists()  # nothing registered
    assert json.loads((out / "my-show" / "series.json").read_text())["title"] == "My Show"


def test_concurrent_first_registrations_cannot_both_win(tmp_path, src):
    # Two titles racing to claim one fresh slug (CLI and inbox sensor at once): exactly one wins, every round.
    for round_no in range(20):
        out = tmp_path / f"out{round_no}"
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def claim(title: str, episode: str) -> None:
            barrier.wait()
            try:
                results[title] = register_episode(out, "show", episode, src, "en", "es", series_title=title)
            except DubError as exc:
                results[title] = exc

        threads = [threading.Thread(target=claim, args=(t, e)) for t, e in (("Show A", "s01e01"), ("Show B", "s01e02"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [t for t, r in results.items() if not isinstance(r, DubError)]
        assert len(won) == 1, results
        assert json.loads((out / "show" / "series.json").read_text())["title"] == won[0]


def test_register_slug_only_then_real_title(tmp_path, src):
    out = tmp_path / "out"
    slug = slugify(JAPANESE)
    register_episode(out, slug, "s01e01", src, "ja", "en")  # e.g. `dub episode --series <slug>`
    assert json.loads((out / slug / "series.json").read_text())["title"] == slug
    # the real title that maps to this slug takes over the record; another title is still refused
    assert register_episode(out, slug, "s01e02", src, "ja", "en", series_title=JAPANESE).series_title == JAPANESE
    assert json.loads((out / slug / "series.json").read_text())["title"] == JAPANESE
    with pytest.raises(DubError):
        register_episode(out, slug, "s01e03", src, "ja", "en", series_title=JAPANESE_2)


def test_register_rejects_unsafe_keys_before_writing(tmp_path, src):
    out = tmp_path / "out"
    for series, episode in (("../x", "s01e01"), ("show", "../../etc"), ("/abs", "s01e01")):
        with pytest.raises(InvalidName):
            register_episode(out, series, episode, src, "en", "es")
    assert not out.exists() and not (tmp_path / "x").exists()


def test_old_registration_without_title_loads(tmp_path):
    out = tmp_path / "out"
    p = EpisodePaths(out, "show", "s01e01").registration
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps({"series": "show", "episode": "s01e01", "source_path": "/x.mkv", "source_lang": "en",
                             "target_lang": "es", "size": 1, "mtime": 1.0, "registered_at": "2026-01-01T00:00:00Z"}))
    reg = load_registration(out, "show", "s01e01")
    assert reg.series_title == "show" and reg.source_path == "/x.mkv"


def test_damaged_registration_is_one_line(tmp_path):
    out = tmp_path / "out"
    p = EpisodePaths(out, "show", "s01e01").registration
    p.parent.mkdir(parents=True)
    p.write_text("{not json")
    with pytest.raises(DubError) as ei:
        load_registration(out, "show", "s01e01")
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)

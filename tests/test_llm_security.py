"""The LLM adapter's credentials: never in messages or logs, never over plain http off this machine, never carried
across a redirect. Real local HTTP servers on 127.0.0.1 (threads), real sockets, urllib unpatched."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dub_resources.errors import DubError, UnsupportedLanguagePair
from dub_resources.settings import Settings
from dub_resources.translation import OpenAICompatibleTranslator, make_translator

KEY = "sk-live-key-0123456789"
PASSWORD = "hunter2-pw-secret"
QUERY_KEY = "qk-query-secret-777"


@pytest.fixture(autouse=True)
def _no_llm_env(monkeypatch):
    for var in ("DUB_LLM_BASE_URL", "DUB_LLM_MODEL", "DUB_LLM_API_KEY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _reply(handler: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict | None = None) -> None:
    handler.send_response(code)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 whose handler records every request (method, path, Authorization)."""

    def __init__(self, respond, host: str = "127.0.0.1"):
        self.calls: list[dict] = []
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                server_self.calls.append({"method": self.command, "path": self.path,
                                          "auth": self.headers.get("Authorization"), "body": body})
                respond(self)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def servers():
    started: list[_Server] = []

    def start(respond, host: str = "127.0.0.1") -> _Server:
        s = _Server(respond, host)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def _ok(handler):
    data = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Hola."}}]}).encode()
    _reply(handler, 200, data, {"Content-Type": "application/json"})


# --- (a) redirects are refused: the Authorization header never reaches the redirect target ----------------------
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_is_not_followed_with_the_key(servers, code, caplog):
    caplog.set_level(logging.DEBUG)
    target = servers(_ok)  # another local port: would answer happily, and records what reached it
    location = f"http://127.0.0.1:{target.port}/v1/chat/completions?token={QUERY_KEY}"
    origin = servers(lambda h: _reply(h, code, b"moved", {"Location": location}))
    tr = OpenAICompatibleTranslator(f"http://127.0.0.1:{origin.port}/v1", "m", KEY, retries=2)
    with pytest.raises(DubError) as exc:
        tr.translate(["Hello."], "en", "es")
    msg = str(exc.value)
    assert target.calls == [], f"redirect was followed: {target.calls}"
    assert not any(c["auth"] for c in target.calls)
    assert len(origin.calls) == 1  # a redirect is a configuration error: not retried
    assert origin.calls[0]["auth"] == f"Bearer {KEY}"  # loopback http: the key may go to the configured endpoint
    assert f"HTTP {code}" in msg and "redirect" in msg and "not followed" in msg and "DUB_LLM_BASE_URL" in msg
    assert f"127.0.0.1:{target.port}" in msg  # where it pointed, redacted
    assert "\n" not in msg and KEY not in msg and QUERY_KEY not in msg and "token=" not in msg
    assert not any(KEY in r.getMessage() or QUERY_KEY in r.getMessage() for r in caplog.records)


# --- (b) an HTTP error names the endpoint without user:password or query credentials ----------------------------
def test_http_500_error_hides_url_credentials(servers, caplog):
    caplog.set_level(logging.DEBUG)

    def explode(h):  # a chatty upstream that echoes the request line (path + query) and headers into its error body
        _reply(h, 500, f"upstream exploded at {h.path} auth={h.headers.get('Authorization')} "
                       f"see http://admin:{PASSWORD}@127.0.0.1/x?api_key={QUERY_KEY}".encode())

    srv = servers(explode)
    url = f"http://alice:{PASSWORD}@127.0.0.1:{srv.port}/v1?api_key={QUERY_KEY}&api-version=2024-06-01"
    tr = OpenAICompatibleTranslator(url, "m", None, retries=0)
    for shown in (repr(tr), tr.url, str(tr.info.to_dict())):
        assert PASSWORD not in shown and QUERY_KEY not in shown and "alice" not in shown
    with pytest.raises(DubError) as exc:
        tr.translate(["Hello."], "en", "es")
    msg = str(exc.value)
    assert "HTTP 500" in msg and "upstream exploded" in msg and f"127.0.0.1:{srv.port}/v1/chat/completions" in msg
    assert PASSWORD not in msg and QUERY_KEY not in msg and "api_key" not in msg and "alice:" not in msg
    assert base64.b64encode(f"alice:{PASSWORD}".encode()).decode() not in msg
    assert "\n" not in msg
    # the request itself went where configured: query kept after the path, user:password sent as Basic auth
    (call,) = srv.calls
    assert call["path"] == f"/v1/chat/completions?api_key={QUERY_KEY}&api-version=2024-06-01"
    assert call["auth"] == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert not any(PASSWORD in r.getMessage() or QUERY_KEY in r.getMessage() for r in caplog.records)


def test_http_500_error_hides_the_api_key(servers):
    srv = servers(lambda h: _reply(h, 503, f"bad key {h.headers.get('Authorization')}".encode()))
    tr = OpenAICompatibleTranslator(f"http://localhost:{srv.port}/v1/", "m", KEY, retries=0)
    with pytest.raises(DubError) as exc:
        tr.translate(["Hello."], "en", "es")
    msg = str(exc.value)
    assert "HTTP 503" in msg and KEY not in msg and srv.calls[0]["auth"] == f"Bearer {KEY}"


def test_unreachable_error_hides_url_credentials():
    with socket.socket() as s:  # a free loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tr = OpenAICompatibleTranslator(f"http://bob:{PASSWORD}@127.0.0.1:{port}/v1?key={QUERY_KEY}", "m", KEY,
                                    retries=0, timeout_s=5)
    with pytest.raises(DubError) as exc:
        tr.translate(["Hello."], "en", "es")
    msg = str(exc.value)
    assert "unreachable" in msg or "no answer" in msg
    assert PASSWORD not in msg and QUERY_KEY not in msg and KEY not in msg and "bob" not in msg


# --- (c) credentials over plain http to another host are refused before any connection -------------------------
def _non_loopback_ipv4() -> str | None:
    """This machine's address on a non-loopback interface, if it has one (a UDP connect sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


@pytest.mark.parametrize("how", ["api_key", "userinfo", "query"])
def test_plain_http_to_a_remote_host_with_credentials_is_refused(servers, how, monkeypatch):
    ip = _non_loopback_ipv4()
    srv = servers(_ok, host=ip) if ip else None
    host = f"{ip}:{srv.port}" if srv else "192.0.2.1:8080"  # else TEST-NET-1: nothing answers there
    base = {"api_key": f"http://{host}/v1", "userinfo": f"http://u:{PASSWORD}@{host}/v1",
            "query": f"http://{host}/v1?api_key={QUERY_KEY}"}[how]
    key = KEY if how == "api_key" else None
    t0 = time.monotonic()
    with pytest.raises(DubError) as exc:
        OpenAICompatibleTranslator(base, "m", key, retries=0, timeout_s=3)
    assert time.monotonic() - t0 < 1.0
    msg = str(exc.value)
    assert "DUB_LLM_BASE_URL" in msg and "plain http" in msg and "non-loopback" in msg and "\n" not in msg
    assert KEY not in msg and PASSWORD not in msg and QUERY_KEY not in msg
    if srv is not None:
        assert srv.calls == []
    # the same through the environment and the translator factory (what a pipeline run does): one loud DubError,
    # not a silent fall-back to another translator
    env = {"DUB_LLM_BASE_URL": base, "DUB_LLM_MODEL": "m", **({"DUB_LLM_API_KEY": key} if key else {})}
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(DubError, match="DUB_LLM_BASE_URL") as exc:
        make_translator(Settings.from_env(env), "en", "de")
    assert "plain http" in str(exc.value) and not isinstance(exc.value, UnsupportedLanguagePair)
    if srv is not None:
        assert srv.calls == []


def test_what_is_allowed():
    # https anywhere, loopback http, and plain http without any credential
    OpenAICompatibleTranslator("https://api.example.com/v1", "m", KEY)
    OpenAICompatibleTranslator("https://u:p@api.example.com/v1?api_key=x", "m", None)
    for host in ("127.0.0.1", "127.8.9.10", "localhost", "[::1]", "LOCALHOST"):
        OpenAICompatibleTranslator(f"http://{host}:8080/v1", "m", KEY)
    OpenAICompatibleTranslator("http://10.1.2.3:8080/v1", "m", None)
    OpenAICompatibleTranslator("http://10.1.2.3:8080/v1?api-version=1", "m", None)  # not a credential


def test_redact_url():
    from dub_resources.translation.llm import is_loopback_host, redact_url, redact_urls_in

    url = f"http://user:{PASSWORD}@host:8080/v1/chat?api_key={QUERY_KEY}#frag"
    assert redact_url(url) == "http://host:8080/v1/chat"
    assert redact_url("https://TOKEN@api.example.com/v1") == "https://api.example.com/v1"
    assert redact_url("http://[::1]:9/x?k=v") == "http://[::1]:9/x"
    assert redact_url("http://h/x") == "http://h/x"
    assert is_loopback_host("127.0.0.1") and is_loopback_host("127.255.0.1") and is_loopback_host("::1")
    assert is_loopback_host("localhost") and is_loopback_host("[::1]")
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host("example.com")
    assert not is_loopback_host("127.0.0.1.example.com") and not is_loopback_host("")
    assert redact_urls_in(f"POST /v1/chat/completions?api_key={QUERY_KEY} (see https://a:b@h/p?t=1).") == \
        "POST /v1/chat/completions (see https://h/p)."

"""Adapter for any OpenAI-compatible chat-completions endpoint (llama.cpp server, vLLM, Ollama, hosted APIs).

Configured by DUB_LLM_BASE_URL, DUB_LLM_MODEL and optionally DUB_LLM_API_KEY (never logged or put in errors),
DUB_LLM_TIMEOUT (s, default 120) and DUB_LLM_BATCH (lines per request, default 30). Only urllib is used.

Credentials (the API key, user:password in the URL, a key/token in its query string) are only sent over https or
to a loopback host (127.0.0.0/8, ::1, localhost); redirects are never followed (a redirected POST would carry the
Authorization header to wherever the Location points); every URL in a message is shown without its userinfo,
query and fragment (`redact_url`).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Mapping

from ..engine import EngineInfo
from ..errors import DubError, EngineUnavailable
from .common import lang_name, norm_lang, translate_nonempty

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^\s*(\d+)\s*[.):\]]\s?(.*)$")
_FENCE = re.compile(r"^\s*```")

SYSTEM_BATCH = (
    "You translate film and TV dialogue subtitles from {src} to {tgt}. The user sends numbered lines 'N. text'. "
    "Reply with exactly the same numbers, one line each, as 'N. translation', in the same order, and nothing else. "
    "Translate every line on its own: do not merge, split, skip or explain lines. Keep names, keep the tone, "
    "and keep each translation about as long as its source line so it can be dubbed."
)
SYSTEM_SINGLE = (
    "You translate one film or TV dialogue subtitle line from {src} to {tgt}. "
    "Reply with the translation only: no quotes, no notes, about as long as the source."
)


_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")
_PATH_QUERY = re.compile(r"((?<![\w/])/[\w.~%/-]*)\?[^\s'\"<>()]*")
# query parameters that carry credentials (api_key, key, access_token, sig, password, ...)
_SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig|cred", re.IGNORECASE)


def redact_url(url: str) -> str:
    """`url` as scheme://host[:port]/path: userinfo, query string and fragment (which may hold credentials) removed.

    Use it for every URL that goes into a message or a log line."""
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme and not host:  # not a URL: drop anything after '?' / '#' and any 'user@'
        return re.split(r"[?#]", str(url), maxsplit=1)[0].rsplit("@", 1)[-1]
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_urls_in(text: str) -> str:
    """Every URL inside free text (an error body, an exception message) passed through `redact_url`, and the query
    string cut off any bare path that carries one (/v1/chat/completions?api_key=... -> /v1/chat/completions)."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _PATH_QUERY.sub(r"\1", text)


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and for 127.0.0.0/8 and ::1 (names other than localhost are not resolved)."""
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return addr.is_loopback or bool(mapped is not None and mapped.is_loopback)


class _Redirected(Exception):
    def __init__(self, code: int, location: str):
        super().__init__(code, location)
        self.code, self.location = code, location


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib would resend the Authorization header (and the body) to the new location."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            fp.read()
            fp.close()
        except Exception:  # noqa: BLE001 - best effort, the connection is dropped anyway
            pass
        raise _Redirected(int(code), str(newurl))


def parse_numbered(reply: str, n: int) -> list[str] | None:
    """Strictly parse 'N. text' lines: exactly 1..n, each once, none empty; anything else -> None."""
    found: dict[int, str] = {}
    for line in reply.strip().splitlines():
        if not line.strip() or _FENCE.match(line):
            continue
        m = _NUMBERED.match(line)
        if not m:
            return None
        k, text = int(m.group(1)), m.group(2).strip()
        if k in found or not 1 <= k <= n or not text:
            return None
        found[k] = text
    if len(found) != n:
        return None
    return [found[k] for k in range(1, n + 1)]


class _Endpoint:
    """DUB_LLM_BASE_URL taken apart: the request URL, its credentials and whether it stays on this machine."""

    def __init__(self, url: str, scheme: str, loopback: bool, userinfo: str | None, query_secret: bool,
                 secrets: list[str]):
        self.url, self.scheme, self.loopback = url, scheme, loopback
        self.userinfo, self.query_secret, self.secrets = userinfo, query_secret, secrets

    @classmethod
    def parse(cls, base_url: str) -> "_Endpoint":
        try:
            parts = urllib.parse.urlsplit(base_url.strip())
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise DubError(f"DUB_LLM_BASE_URL {redact_url(base_url)} is not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not host:
            raise DubError(f"DUB_LLM_BASE_URL {redact_url(base_url)} is not an http(s) URL")
        secrets: list[str] = []
        userinfo = None
        if parts.username is not None or parts.password is not None:
            user = urllib.parse.unquote(parts.username or "")
            password = urllib.parse.unquote(parts.password or "")
            userinfo = f"{user}:{password}"
            # a user name alone is often a token (https://TOKEN@host)
            secrets += [parts.password, password] if password else [parts.username, user]
        query_secret = False
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
            if value and _SECRET_PARAM.search(name):
                query_secret = True
                secrets += [value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)]
        path = parts.path.rstrip("/")
        if not path.endswith("/chat/completions"):
            path += "/chat/completions"
        netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
        url = urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, ""))
        return cls(url, scheme, is_loopback_host(host), userinfo, query_secret, [s for s in secrets if s])


class OpenAICompatibleTranslator:
    """Numbered-lines batches, strictly parsed; a batch whose reply doesn't parse is redone one line per request."""

    name = "llm"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout_s: float = 120.0,
                 batch_size: int = 30, retries: int = 2, temperature: float = 0.0):
        if not base_url or not model:
            raise EngineUnavailable("LLM translator needs DUB_LLM_BASE_URL and DUB_LLM_MODEL")
        self._api_key = api_key or None
        ep = _Endpoint.parse(base_url)
        self._url = ep.url  # the request URL (query kept, userinfo removed): never shown
        self.url = redact_url(ep.url)  # what messages and repr show
        self._secrets = sorted({s for s in (self._api_key, *ep.secrets) if s}, key=len, reverse=True)
        self._auth: str | None = None
        if self._api_key:
            self._auth = f"Bearer {self._api_key}"
            if ep.userinfo is not None:
                log.warning("DUB_LLM_BASE_URL %s: user:password in the URL ignored, DUB_LLM_API_KEY is used", self.url)
        elif ep.userinfo is not None:
            token = base64.b64encode(ep.userinfo.encode("utf-8")).decode("ascii")
            self._auth = "Basic " + token
            self._secrets = sorted({*self._secrets, token}, key=len, reverse=True)
        sent = [what for what, present in (
            ("DUB_LLM_API_KEY", self._api_key),
            ("the URL's user:password", ep.userinfo is not None and not self._api_key),
            ("the key/token in the URL's query string", ep.query_secret),
        ) if present]
        if sent and ep.scheme != "https" and not ep.loopback:  # refused before any connection is made
            raise DubError(
                f"DUB_LLM_BASE_URL {self.url} is plain http to a non-loopback host: refusing to send "
                f"{' and '.join(sent)} unencrypted (use https, or a loopback address such as 127.0.0.1)")
        self._opener = urllib.request.build_opener(
            _RefuseRedirects(),
            # a loopback endpoint is never reached through an http(s)_proxy from the environment
            *([urllib.request.ProxyHandler({})] if ep.loopback else []),
        )
        self.model = model
        self.timeout_s = timeout_s
        self.batch_size = max(1, batch_size)
        self.retries = max(0, retries)
        self.temperature = temperature
        self.info = EngineInfo(f"llm:{model}", "openai-chat-completions", [])
        self.requests = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "OpenAICompatibleTranslator | None":
        """The adapter if DUB_LLM_BASE_URL and DUB_LLM_MODEL are set, else None."""
        e = os.environ if env is None else env
        base, model = e.get("DUB_LLM_BASE_URL", "").strip(), e.get("DUB_LLM_MODEL", "").strip()
        if not base or not model:
            return None
        return cls(base, model, e.get("DUB_LLM_API_KEY") or None,
                   timeout_s=float(e.get("DUB_LLM_TIMEOUT") or 120), batch_size=int(e.get("DUB_LLM_BATCH") or 30))

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatibleTranslator(url={self.url!r}, model={self.model!r})"

    def supports(self, source: str, target: str) -> bool:
        return norm_lang(source) != norm_lang(target)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        src, tgt = lang_name(source), lang_name(target)

        def run(lines: list[str]) -> list[str]:
            out: list[str] = []
            for i in range(0, len(lines), self.batch_size):
                out += self._batch(lines[i:i + self.batch_size], src, tgt)
            return out

        return translate_nonempty(texts, run)

    def _batch(self, lines: list[str], src: str, tgt: str) -> list[str]:
        user = "\n".join(f"{k}. {ln}" for k, ln in enumerate(lines, 1))
        reply = self._chat(SYSTEM_BATCH.format(src=src, tgt=tgt), user)
        parsed = parse_numbered(reply, len(lines))
        if parsed is not None:
            return parsed
        self.info.fallbacks.append(f"llm numbered reply did not match {len(lines)} lines: per-line requests")
        return [self._single(ln, src, tgt) for ln in lines]

    def _single(self, line: str, src: str, tgt: str) -> str:
        reply = self._chat(SYSTEM_SINGLE.format(src=src, tgt=tgt), line).strip()
        lines = [ln for ln in reply.splitlines() if ln.strip() and not _FENCE.match(ln)]
        text = " ".join(ln.strip() for ln in lines)
        m = _NUMBERED.match(text)
        if m and not _NUMBERED.match(line):  # the model numbered its answer anyway
            text = m.group(2).strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and line[:1] not in "\"'":
            text = text[1:-1].strip()
        if not text:
            raise DubError(f"LLM endpoint {self.url} returned an empty translation for {line[:60]!r}")
        return text

    def _chat(self, system: str, user: str) -> str:
        body = json.dumps({
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.temperature,
            "stream": False,
        }).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._auth:
            headers["Authorization"] = self._auth
        last: str = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(8.0, 1.0 * 2 ** (attempt - 1)))
            req = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
            self.requests += 1
            try:
                with self._opener.open(req, timeout=self.timeout_s) as resp:
                    data = json.loads(resp.read().decode("utf-8"))
                return str(data["choices"][0]["message"]["content"] or "")
            except _Redirected as exc:
                raise DubError(
                    f"LLM endpoint {self.url}: HTTP {exc.code} redirect to {self._redact(redact_url(exc.location))}"
                    " not followed (it would resend the credentials); set DUB_LLM_BASE_URL to the final URL"
                ) from None
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode("utf-8", "replace") if exc.fp else ""
                last = f"HTTP {exc.code} {self._redact(detail)}".strip()
                if exc.code not in (408, 429) and exc.code < 500:
                    break
            except urllib.error.URLError as exc:
                last = f"unreachable ({self._redact(str(exc.reason))})"
            except (TimeoutError, OSError) as exc:
                last = f"no answer ({self._redact(str(exc))})"
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                last = f"malformed response ({type(exc).__name__})"
                break
        raise DubError(f"LLM endpoint {self.url}: {last}")

    def _redact(self, text: str) -> str:
        """One line with URLs redacted and every configured secret (key, URL password, query token) masked."""
        text = redact_urls_in(" ".join(str(text).split()))
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

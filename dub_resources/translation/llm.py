"""Adapter for any OpenAI-compatible chat-completions endpoint (llama.cpp server, vLLM, Ollama, hosted APIs).

Configured by DUB_LLM_BASE_URL, DUB_LLM_MODEL and optionally DUB_LLM_API_KEY (never logged or put in errors),
DUB_LLM_TIMEOUT (s, default 120) and DUB_LLM_BATCH (lines per request, default 30). Only urllib is used.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from typing import Mapping

from ..engine import EngineInfo
from ..errors import DubError, EngineUnavailable
from .common import lang_name, norm_lang, translate_nonempty

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


class OpenAICompatibleTranslator:
    """Numbered-lines batches, strictly parsed; a batch whose reply doesn't parse is redone one line per request."""

    name = "llm"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout_s: float = 120.0,
                 batch_size: int = 30, retries: int = 2, temperature: float = 0.0):
        if not base_url or not model:
            raise EngineUnavailable("LLM translator needs DUB_LLM_BASE_URL and DUB_LLM_MODEL")
        url = base_url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model = model
        self._api_key = api_key or None
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
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last: str = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(8.0, 1.0 * 2 ** (attempt - 1)))
            req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            self.requests += 1
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    data = json.loads(resp.read().decode("utf-8"))
                return str(data["choices"][0]["message"]["content"] or "")
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
        text = " ".join(text.split())
        return text.replace(self._api_key, "***") if self._api_key else text

"""Chat completions from any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp
server). Standard library only: timeouts, retries with backoff, token accounting."""

from __future__ import annotations

import http.client
import json as _json
import random
import time
import urllib.parse
from typing import Any, Mapping, Sequence

from ..errors import LLMError
from .base import Completion, Usage


class _HTTPStatus(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"HTTP {code}: {detail}")
        self.code = code
        self.detail = detail


class OpenAIChat:
    """``POST {base_url}/chat/completions``. Retries connection errors, timeouts, 429 and
    5xx with exponential backoff (and jitter); other 4xx fail at once. ``usage`` keeps
    calls, retries, failures and tokens."""

    def __init__(self, model: str, *, base_url: str = "https://api.openai.com/v1",
                 api_key: str | None = None, timeout: float = 60.0, retries: int = 2,
                 backoff: float = 0.5, temperature: float = 0.0) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.temperature = temperature
        self.name = f"openai:{model}"
        self.usage = Usage()

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        """One POST; the connection is always closed, whatever goes wrong."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = urllib.parse.urlsplit(f"{self.base_url}/chat/completions")
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(url.netloc, timeout=self.timeout)
        try:
            path = url.path + (f"?{url.query}" if url.query else "")
            conn.request("POST", path, body=_json.dumps(body).encode(), headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status >= 400:
                raise _HTTPStatus(resp.status, raw[:300].decode("utf-8", "replace"))
        finally:
            conn.close()
        payload = _json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("response is not a JSON object")
        return payload

    def complete(self, messages: Sequence[Mapping[str, Any]], *, json: bool = False,
                 max_tokens: int | None = None) -> Completion:
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in messages],
                                "temperature": self.temperature}
        if max_tokens:
            body["max_tokens"] = max_tokens
        if json:
            body["response_format"] = {"type": "json_object"}
        url = f"{self.base_url}/chat/completions"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            try:
                payload = self._request(body)
                text = payload["choices"][0]["message"]["content"]
                if not isinstance(text, str):
                    raise ValueError("choices[0].message.content is not a string")
                usage = payload.get("usage") or {}
                c = Completion(text, int(usage.get("prompt_tokens") or 0),
                               int(usage.get("completion_tokens") or 0),
                               time.perf_counter() - t0, str(payload.get("model", self.model)))
                self.usage.record(c)
                return c
            except _HTTPStatus as exc:
                last = exc
                if exc.code == 400 and "response_format" in body:
                    body.pop("response_format")  # servers without JSON mode: ask plainly
                elif exc.code != 429 and exc.code < 500:
                    self.usage.failed()
                    raise LLMError(f"{url} answered HTTP {exc.code}: {exc.detail}") from exc
            except (http.client.HTTPException, TimeoutError, ConnectionError, OSError) as exc:
                last = exc
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                self.usage.failed()
                raise LLMError(f"{url} returned a malformed completion: {exc}") from exc
            if attempt < self.retries:
                self.usage.retried()
                time.sleep(self.backoff * 2**attempt * (1 + random.random() / 4))
        self.usage.failed()
        raise LLMError(f"{url} failed after {self.retries + 1} attempts: {last}") from last

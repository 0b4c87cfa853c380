"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Ollama,
vLLM, llama.cpp server, text-embeddings-inference). Standard library only."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Sequence

import numpy as np

from ..errors import EmbedderError
from .base import l2_normalise


class OpenAIEmbedder:
    """Calls ``POST {base_url}/embeddings`` with ``{"model", "input"}`` in batches.

    ``dim`` is learnt from the first response when not given. Retries transient failures
    (connection errors, 429, 5xx) with exponential backoff.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        retries: int = 3,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.batch_size = batch_size
        self.timeout = timeout
        self.retries = retries
        self.name = f"openai:{model}"
        self._dim = dim

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def _post(self, texts: list[str]) -> list[list[float]]:
        body = json.dumps({"model": self.model, "input": texts}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/embeddings"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    payload = json.loads(resp.read())
                data = sorted(payload["data"], key=lambda d: d.get("index", 0))
                vectors = [d["embedding"] for d in data]
                if len(vectors) != len(texts):
                    raise EmbedderError(
                        f"{url} returned {len(vectors)} embeddings for {len(texts)} inputs")
                return vectors
            except urllib.error.HTTPError as exc:
                last = exc
                if exc.code != 429 and exc.code < 500:
                    detail = exc.read()[:300].decode("utf-8", "replace")
                    raise EmbedderError(f"{url} answered HTTP {exc.code}: {detail}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = exc
            except (ValueError, KeyError, TypeError) as exc:
                raise EmbedderError(f"{url} returned a malformed embeddings response: {exc}") from exc
            if attempt < self.retries:
                time.sleep(min(0.2 * 2**attempt, 5.0))
        raise EmbedderError(f"{url} failed after {self.retries + 1} attempts: {last}") from last

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        rows: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            rows.extend(self._post(list(texts[i : i + self.batch_size])))
        arr = np.asarray(rows, dtype=np.float32)
        if arr.ndim != 2 or (self._dim is not None and arr.shape[1] != self._dim):
            raise EmbedderError(f"embeddings have shape {arr.shape}, expected (n, {self._dim})")
        self._dim = arr.shape[1]
        return l2_normalise(arr)

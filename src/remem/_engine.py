"""``Engine``: what the pipelines (search, extraction, maintenance, transfer, answer)
receive instead of ``Memory``: the store, the embedder and the configs, nothing else.

``Memory`` checks arguments and delegates; it owns one ``Engine``. Pipelines never import
``memory``, so imports point one way: faces -> Memory -> pipelines -> store -> backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .embed.base import Embedder
from .errors import EmbedderError, RememError
from .store.protocol import Store


@dataclass
class Engine:
    store: Store
    embedder: Embedder
    config: Any  # remem.config.SearchConfig
    extract_config: Any  # remem ExtractConfig
    llm: Any = None  # remem.llm.LLM or None
    llm_batch_turns: int = 40

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed with the configured model; its failures become ``EmbedderError`` and a
        wrong shape is refused here, at the seam."""
        try:
            vecs = self.embedder.embed(list(texts))
        except RememError:
            raise
        except Exception as exc:  # translate at the seam
            raise EmbedderError(f"embedder {self.embedder.name} failed: {exc}") from exc
        if vecs.shape != (len(texts), self.embedder.dim):
            raise EmbedderError(
                f"embedder {self.embedder.name} returned shape {vecs.shape}, "
                f"expected ({len(texts)}, {self.embedder.dim})")
        if not np.isfinite(vecs).all():
            raise EmbedderError(f"embedder {self.embedder.name} returned NaN or infinite values")
        return vecs

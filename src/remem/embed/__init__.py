"""Embedders: the packaged local model (default), an OpenAI-compatible HTTP client and a
deterministic hashing embedder for tests."""

from .base import Embedder
from .hashing import HashingEmbedder
from .http import OpenAIEmbedder

__all__ = ["Embedder", "HashingEmbedder", "OpenAIEmbedder"]

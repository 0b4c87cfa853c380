"""remem: long-term memory for LLM agents. Offline, LLM-free hybrid recall with provenance."""

from .aio import AsyncMemory
from .embed import Embedder, HashingEmbedder, OpenAIEmbedder
from .errors import (
    EmbedderError,
    ImportFormatError,
    InvalidInput,
    LLMError,
    MigrationError,
    NotFound,
    RememError,
    RemoteError,
    StoreError,
    Unauthorized,
)
from .config import ExtractConfig, ForgetPolicy, MaintainConfig, SearchConfig
from .memory import Memory
from .types import AddResult, Answer, HistoryEntry, Hit, MaintainReport, MemoryItem, SearchResult

__all__ = [
    "AddResult",
    "Answer",
    "AsyncClient",
    "AsyncMemory",
    "Client",
    "Embedder",
    "EmbedderError",
    "ExtractConfig",
    "ForgetPolicy",
    "HashingEmbedder",
    "HistoryEntry",
    "Hit",
    "ImportFormatError",
    "InvalidInput",
    "LLMError",
    "MaintainConfig",
    "MaintainReport",
    "Memory",
    "MemoryItem",
    "MigrationError",
    "NotFound",
    "OpenAIEmbedder",
    "RememError",
    "RemoteError",
    "SearchConfig",
    "SearchResult",
    "StoreError",
    "Unauthorized",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``Client``/``AsyncClient`` need httpx (``pip install 'remem[client]'``): they load
    on first use, so ``import remem`` works without it."""
    if name in ("Client", "AsyncClient"):
        try:
            from . import client
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(f"remem.{name} needs httpx: pip install 'remem[client]' ({exc})") from exc
        return getattr(client, name)
    raise AttributeError(f"module 'remem' has no attribute {name!r}")

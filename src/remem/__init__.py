"""remem: long-term memory for LLM agents. Offline, LLM-free hybrid recall with provenance."""

from .embed import Embedder, HashingEmbedder, OpenAIEmbedder
from .errors import (
    EmbedderError,
    ImportFormatError,
    InvalidInput,
    LLMError,
    MigrationError,
    NotFound,
    RememError,
    StoreError,
)
from .config import ExtractConfig, ForgetPolicy, MaintainConfig, SearchConfig
from .memory import Memory
from .types import AddResult, Answer, HistoryEntry, Hit, MaintainReport, MemoryItem, SearchResult

__all__ = [
    "AddResult",
    "Answer",
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
    "SearchConfig",
    "SearchResult",
    "StoreError",
]
__version__ = "0.1.0"

"""The remem exception tree. Every error remem raises on purpose is one of these.

    RememError
    ├── InvalidInput          bad argument or message (ValueError too)
    │   └── ImportFormatError bad JSONL line (carries the line number)
    ├── NotFound              no memory with that id in reach (KeyError too)
    ├── StoreError            the store cannot be opened or used
    │   └── MigrationError    schema migration failed or store is newer than this code
    ├── EmbedderError         the embedding model failed or is unavailable
    └── LLMError              the LLM endpoint failed or answered something unusable

Backend errors (sqlite3, onnxruntime, HTTP) are translated at the seam and raised
``from`` the original exception.
"""

from __future__ import annotations


class RememError(Exception):
    """Root of every error remem raises on purpose."""


class InvalidInput(RememError, ValueError):
    """An argument or input record is malformed; nothing was changed."""


class ImportFormatError(InvalidInput):
    """A line of an import file is malformed."""

    def __init__(self, message: str, *, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class NotFound(RememError, KeyError):
    """No memory with that id exists (in the caller's reach)."""

    def __str__(self) -> str:  # KeyError quotes its arg; we want plain text
        return str(self.args[0]) if self.args else "not found"


class StoreError(RememError):
    """The store cannot be opened or used."""


class MigrationError(StoreError):
    """A schema migration failed, or the store was written by a newer remem."""


class EmbedderError(RememError):
    """The embedding model failed or is unavailable."""


class LLMError(RememError):
    """The LLM endpoint failed, timed out, or answered something unusable."""

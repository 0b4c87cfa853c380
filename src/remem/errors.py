"""The remem exception tree. Every error remem raises on purpose is one of these.

    RememError
    ├── InvalidInput          bad argument or message (ValueError too)
    │   └── ImportFormatError bad JSONL line (carries the line number)
    ├── NotFound              no memory with that id in reach (KeyError too)
    ├── StoreError            the store cannot be opened or used
    │   └── MigrationError    schema migration failed or store is newer than this code
    ├── EmbedderError         the embedding model failed or is unavailable
    ├── LLMError              the LLM endpoint failed or answered something unusable
    └── RemoteError           (Client) the server failed, or could not be reached
        └── Unauthorized      missing, invalid or revoked API key, or not allowed (401/403)

Backend errors (sqlite3, onnxruntime, HTTP) are translated at the seam and raised
``from`` the original exception. ``remem.Client`` raises the same classes as ``Memory``
for the server's answers (404 ``NotFound``, 422 ``InvalidInput``, 503 ``StoreError`` ...).
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


class RemoteError(RememError):
    """The remem server answered with an error no other class covers, or could not be
    reached (``status`` is None then). ``type`` is the server's error type."""

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type


class Unauthorized(RemoteError):
    """The API key is missing, invalid or revoked (401), or may not do this (403)."""

"""The embedded SQLite store: one file, WAL; per-user BM25 and vectors searched in memory."""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]

"""The PostgreSQL + pgvector store, shared by any number of processes."""

from .store import PostgresStore, redact

__all__ = ["PostgresStore", "redact"]

"""API keys: creation, listing, revocation and verification, and ``authenticate``: the
one check of a request's key, behind /v1 (REST and the inspector's calls) and /mcp alike.
No framework.

``KeyStore`` is the seam the server uses; ``open_key_store(target)`` picks the
implementation from where the memory store lives:

* ``SQLiteKeyStore``: the table ``api_keys`` inside the store's SQLite file (its own
  connection in WAL mode, so ``remem keys ...`` works while a server runs).
* ``PostgresKeyStore``: the table ``api_keys`` in the store's PostgreSQL database (its own
  small connection pool), shared by every ``remem serve`` worker on that database.

Either way a revocation takes effect on the next request (nothing is cached), the store's
own schema and migrations are untouched (this module creates its tables with ``CREATE
TABLE IF NOT EXISTS`` and records its own schema version in ``api_keys_meta``), and
exports and ``remem copy`` of the store never include keys.

A key is ``rmk_<id>_<secret>``: ``id`` (12 hex chars) names the key in listings and
revocations; the secret is 256 random bits. Only ``sha256(key)`` is stored, so a key is
shown once, when it is created. A key belongs to exactly one tenant, or is an admin key
(no tenant) that may only manage keys.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
from pathlib import Path
import time
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import InvalidInput, MigrationError, NotFound, StoreError
from .errors import ApiError
from .tenancy import Principal

TENANT_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEY_RE = re.compile(r"rmk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
SCHEMA_VERSION = 1

_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_keys_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS api_keys (
        id          TEXT PRIMARY KEY,
        tenant      TEXT,
        admin       INTEGER NOT NULL DEFAULT 0,
        name        TEXT,
        hash        TEXT NOT NULL UNIQUE,
        created_at  REAL NOT NULL,
        revoked_at  REAL,
        CHECK ((admin = 1 AND tenant IS NULL) OR (admin = 0 AND tenant IS NOT NULL))
    )""",
    "CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys(tenant)",
)
# the same table on PostgreSQL (times as double precision: REAL is 4 bytes there)
_PG_SCHEMA = tuple(stmt.replace("REAL", "DOUBLE PRECISION") for stmt in _SQLITE_SCHEMA)
_PG_LOCK_KEY = 0x72656D656D + 7  # advisory lock: workers starting at once migrate in turn


def check_tenant(tenant: Any) -> str:
    """A tenant name: 1-64 of ``A-Z a-z 0-9 _ -`` (so ``tenant::`` is an unambiguous prefix)."""
    if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
        raise InvalidInput("tenant must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return tenant


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    tenant: str | None
    admin: bool
    name: str | None
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "admin": self.admin, "name": self.name,
                "created_at": self.created_at, "revoked_at": self.revoked_at,
                "active": self.active}


_COLS = "id, tenant, admin, name, created_at, revoked_at"


def _row(r: tuple[Any, ...]) -> ApiKey:
    return ApiKey(r[0], r[1], bool(r[2]), r[3], r[4], r[5])


class KeyStore(Protocol):
    """Where API keys live. Implementations are safe to share between threads."""

    def create(self, *, tenant: str | None = None, admin: bool = False,
               name: str | None = None) -> tuple[ApiKey, str]: ...

    def list(self, tenant: str | None = None) -> list[ApiKey]: ...

    def get(self, key_id: str) -> ApiKey: ...

    def revoke(self, key_id: str) -> ApiKey: ...

    def verify(self, key: str) -> ApiKey | None: ...

    def close(self) -> None: ...


def authenticate(authorization: str | None, keys: KeyStore | None) -> Principal:
    """Who sends a request, from its ``Authorization`` header value. ``keys`` is ``None``
    when the server runs with ``--no-auth``: every caller is the one implicit tenant.
    A missing header, another scheme than Bearer, or an unknown or revoked key is an
    ``ApiError`` 401. An admin key is a principal too; ``TenantMemory`` refuses it (403)."""
    if keys is None:
        return Principal(None)
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
    rec = keys.verify(token)
    if rec is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key")
    return Principal(rec.tenant, rec.id, rec.admin)


def is_dsn(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_key_store(target: str) -> KeyStore:
    """The key store next to the memory store at ``target``: a PostgreSQL DSN, or an
    SQLite file path."""
    return PostgresKeyStore(target) if is_dsn(target) else SQLiteKeyStore(target)


def key_store_for(store: Any) -> KeyStore:
    """The key store next to an open memory store (``PostgresStore`` keeps its DSN)."""
    dsn = getattr(store, "dsn", None)
    return open_key_store(dsn if isinstance(dsn, str) else str(getattr(store, "path", ":memory:")))


class _SqlKeyStore:
    """The key logic, over ``_q`` (SQL with ``?`` placeholders) of a subclass."""

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def create(self, *, tenant: str | None = None, admin: bool = False,
               name: str | None = None) -> tuple[ApiKey, str]:
        """A new key for ``tenant`` (or an admin key). Returns the record and the key
        itself, which is not stored and cannot be shown again."""
        if admin == (tenant is not None):
            raise InvalidInput("a key needs exactly one of: a tenant, or admin")
        if tenant is not None:
            check_tenant(tenant)
        if name is not None and (not isinstance(name, str) or len(name) > 200
                                 or any(ord(c) < 32 for c in name)):
            raise InvalidInput("key name must be a string of at most 200 printable characters")
        key_id = secrets.token_hex(6)
        secret = f"rmk_{key_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        self._q("INSERT INTO api_keys(id, tenant, admin, name, hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (key_id, tenant, int(admin), name, hash_key(secret), now))
        return ApiKey(key_id, tenant, admin, name, now, None), secret

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (revoked ones too), oldest first; only ``tenant``'s if given."""
        if tenant is None:
            rows = self._q(f"SELECT {_COLS} FROM api_keys ORDER BY created_at, id")
        else:
            rows = self._q(f"SELECT {_COLS} FROM api_keys WHERE tenant=? ORDER BY created_at, id",
                           (check_tenant(tenant),))
        return [_row(r) for r in rows]

    def get(self, key_id: str) -> ApiKey:
        rows = self._q(f"SELECT {_COLS} FROM api_keys WHERE id=?", (key_id,))
        if not rows:
            raise NotFound(f"no API key with id {key_id!r}")
        return _row(rows[0])

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key; it stops working on the next request. Revoking twice is a no-op."""
        if not isinstance(key_id, str):
            raise InvalidInput("key id must be a string")
        self._q("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                (time.time(), key_id))
        return self.get(key_id)

    def verify(self, key: str) -> ApiKey | None:
        """The active key record for this secret, or ``None``."""
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            return None
        rows = self._q(f"SELECT {_COLS} FROM api_keys WHERE hash=? AND revoked_at IS NULL",
                       (hash_key(key),))
        return _row(rows[0]) if rows else None


def _check_version(row: tuple[Any, ...] | None) -> bool:
    """Whether the version row must be written; refuses a newer key schema."""
    if row is not None and int(row[0]) > SCHEMA_VERSION:
        raise MigrationError(f"api_keys schema version {row[0]} is newer than this "
                             f"remem supports ({SCHEMA_VERSION}); upgrade remem")
    return row is None


class SQLiteKeyStore(_SqlKeyStore):
    """The ``api_keys`` table of one SQLite store file."""

    def __init__(self, path: str, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path != ":memory:":
            from ..store.sqlite.files import private_dirs, private_file

            private_dirs(Path(path).parent)
            private_file(Path(path))  # the key hashes live here too: 0600
        try:
            self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open key table in {path}: {exc}") from exc

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SQLITE_SCHEMA:
                db.execute(stmt)
            row = db.execute("SELECT value FROM api_keys_meta WHERE key='schema_version'").fetchone()
            if _check_version(row):
                db.execute("INSERT INTO api_keys_meta(key, value) VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"key table query failed: {exc}") from exc


class PostgresKeyStore(_SqlKeyStore):
    """The ``api_keys`` table of a PostgreSQL database (the memory store's), through a
    small pool of its own; every worker on the database sees every key at once."""

    def __init__(self, dsn: str, *, pool_size: int = 4, timeout: float = 30.0) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError("API keys on PostgreSQL need the postgres extra: "
                             "pip install 'remem[postgres]'") from exc
        from ..store.postgres import redact

        self._pg = psycopg
        self.path = redact(dsn)
        self._pool: Any = None
        try:
            with psycopg.connect(dsn, connect_timeout=int(timeout)) as conn:
                self._migrate(conn)
            self._pool = ConnectionPool(dsn, min_size=1, max_size=max(1, pool_size),
                                        timeout=timeout, open=True, name="remem-keys",
                                        kwargs={"autocommit": True})
        except psycopg.Error as exc:
            raise StoreError(f"cannot open key table in {self.path}: {exc}") from exc

    @staticmethod
    def _migrate(conn: Any) -> None:
        """One transaction under an advisory lock (concurrent ``CREATE TABLE IF NOT
        EXISTS`` can collide on PostgreSQL)."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
            for stmt in _PG_SCHEMA:
                conn.execute(stmt)
            row = conn.execute("SELECT value FROM api_keys_meta "
                               "WHERE key='schema_version'").fetchone()
            if _check_version(row):
                conn.execute("INSERT INTO api_keys_meta(key, value) VALUES ('schema_version', %s)",
                             (str(SCHEMA_VERSION),))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as conn:
                cur = conn.execute(sql.replace("?", "%s"), args)
                return cur.fetchall() if cur.description is not None else []
        except self._pg.Error as exc:
            raise StoreError(f"key table query failed: {exc}") from exc

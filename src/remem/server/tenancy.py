"""Tenant scoping: who is calling, and how their ids map onto the shared store.

Every user lives inside a tenant. The engine sees composite user ids,
``f"{tenant}::{user_id}"``; tenant names are ``[A-Za-z0-9_-]{1,64}`` and callers'
user ids may not contain ``::``, so the prefix is unambiguous. Every route maps the
caller's ``user_id`` in (``Principal.inner``) and every response maps it back out
(``Principal.outer``). Id-based routes check ``Principal.owns`` on the stored record
and answer 404, never 403, when the id belongs to someone else.

With ``--no-auth`` there is one implicit tenant whose ids are used as given (so the
server sees the same users as the ``remem`` CLI on that file).
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._ingest import MAX_ID_CHARS, check_id
from ..errors import ImportFormatError, InvalidInput, NotFound, StoreError

if TYPE_CHECKING:
    from ..memory import Memory

SEP = "::"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``tenant`` is ``None`` only with ``--no-auth``."""

    tenant: str | None
    key_id: str | None = None
    admin: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.tenant}{SEP}" if self.tenant is not None else ""

    def inner(self, user_id: Any, what: str = "user_id") -> str:
        """The engine's user id for the caller's ``user_id`` (validated)."""
        uid = str(check_id(user_id, what))
        if self.tenant is None:
            return uid
        if SEP in uid:
            raise InvalidInput(f"{what} must not contain '{SEP}'")
        if len(uid) > MAX_ID_CHARS - len(self.prefix):
            raise InvalidInput(f"{what} is longer than {MAX_ID_CHARS - len(self.prefix)} characters")
        return self.prefix + uid

    def owns(self, stored_user_id: str | None) -> bool:
        return stored_user_id is not None and stored_user_id.startswith(self.prefix)

    def outer(self, stored_user_id: str) -> str:
        """The caller's view of a stored user id (their tenant prefix removed)."""
        return stored_user_id[len(self.prefix):] if self.owns(stored_user_id) else stored_user_id

    def outer_dict(self, row: dict[str, Any]) -> dict[str, Any]:
        if isinstance(row.get("user_id"), str):
            row["user_id"] = self.outer(row["user_id"])
        return row


class Owners:
    """Who owns a memory id or an episode id, including memories that were deleted (whose
    history remains). The engine exposes live memories (``store.get``) and episodes
    (``store.episode_context``); the owner of a deleted memory is only in the history
    table, which this reads through its own read-only connection."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self._lock = threading.Lock()
        path = str(getattr(memory.store, "path", ":memory:"))
        self._db: sqlite3.Connection | None = None
        if path != ":memory:":
            self._db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                                       timeout=30.0, check_same_thread=False,
                                       isolation_level=None)

    def close(self) -> None:
        if self._db is not None:
            with self._lock:
                self._db.close()

    def memory_owner(self, memory_id: str) -> str | None:
        rec = self.memory.store.get(memory_id)
        if rec is not None:
            return str(rec.scope.user_id)
        if self._db is None:
            return None
        try:
            with self._lock:
                row = self._db.execute("SELECT user_id FROM history WHERE memory_id=? "
                                       "ORDER BY id LIMIT 1", (memory_id,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the history of {memory_id!r}: {exc}") from exc
        return str(row[0]) if row else None

    def episode_owner(self, episode_id: str) -> str | None:
        ctx = self.memory.store.episode_context(episode_id)
        return str(ctx[0]["user_id"]) if ctx else None

    def check_memory(self, principal: Principal, memory_id: Any) -> str:
        """The stored user id of a memory the caller owns; ``NotFound`` otherwise (also
        for another tenant's ids)."""
        if not isinstance(memory_id, str) or not memory_id:
            raise InvalidInput("memory id must be a non-empty string")
        owner = self.memory_owner(memory_id)
        if not principal.owns(owner):
            raise NotFound(f"no memory with id {memory_id!r}")
        return owner  # type: ignore[return-value]


def confine_import(principal: Principal, owners: Owners, text: str) -> io.StringIO:
    """Rewrite an export file so every record lands inside the caller's tenant.

    User ids are mapped in (an id already carrying the caller's own prefix is accepted
    as is); a record of another tenant, or one whose id or references (episode ids,
    history memory ids) belong to another tenant, rejects the whole import with the line
    number. Lines that are not JSON objects are passed through for the engine to report.
    """
    if principal.tenant is None:
        return io.StringIO(text)
    out: list[str] = []
    # split like the engine reads a file (on "\n" only), so line numbers agree
    for n, line in enumerate(text.split("\n"), start=1):
        try:
            obj = json.loads(line) if line.strip() else None
        except (json.JSONDecodeError, ValueError):
            obj = None
        if not isinstance(obj, dict) or obj.get("kind") == "header":
            out.append(line)
            continue
        uid = obj.get("user_id")
        if isinstance(uid, str):
            if uid.startswith(principal.prefix):
                uid = uid[len(principal.prefix):]
            if SEP in uid:
                raise ImportFormatError("user_id belongs to another tenant", line=n)
            try:
                obj["user_id"] = principal.inner(uid)
            except InvalidInput as exc:
                raise ImportFormatError(str(exc), line=n) from None
        _check_refs(principal, owners, obj, n)
        out.append(json.dumps(obj, ensure_ascii=False))
    return io.StringIO("\n".join(out))


def _check_refs(principal: Principal, owners: Owners, obj: dict[str, Any], line: int) -> None:
    kind = obj.get("kind")
    refs: list[tuple[str, Any]] = []
    if kind == "episode":
        refs.append(("episode", obj.get("id")))
    elif kind == "memory":
        refs.append(("memory", obj.get("id")))
        eps = obj.get("episode_ids")
        refs.extend(("episode", e) for e in (eps if isinstance(eps, list) else []))
    elif kind == "history":
        refs.append(("memory", obj.get("memory_id")))
    for what, ref in refs:
        if not isinstance(ref, str):
            continue  # malformed: the engine's validation reports it
        owner = owners.memory_owner(ref) if what == "memory" else owners.episode_owner(ref)
        if owner is not None and not principal.owns(owner):
            raise ImportFormatError(f"{kind} refers to {what} id {ref!r}, which is not yours",
                                    line=line)


def confine_export(principal: Principal, text: str) -> str:
    """An engine export (one user) with the caller's view of user ids."""
    if principal.tenant is None:
        return text
    lines = []
    for line in text.split("\n"):
        if line.strip():
            obj = json.loads(line)
            lines.append(json.dumps(principal.outer_dict(obj), ensure_ascii=False))
    return "\n".join(lines) + "\n"

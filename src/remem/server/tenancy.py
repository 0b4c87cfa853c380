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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._ingest import MAX_ID_CHARS, check_id
from ..errors import ImportFormatError, InvalidInput, NotFound

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
    history remains): ``store.memory_owner`` and ``store.episode_context``, on any store
    that has them (SQLite and PostgreSQL do)."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    def close(self) -> None:
        """Nothing to release (kept so callers need not know)."""

    def memory_owner(self, memory_id: str) -> str | None:
        owner = getattr(self.memory.store, "memory_owner", None)
        if owner is not None:
            return owner(memory_id)  # type: ignore[no-any-return]
        rec = self.memory.store.get(memory_id)  # a custom store: live memories only
        return str(rec.scope.user_id) if rec is not None else None

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

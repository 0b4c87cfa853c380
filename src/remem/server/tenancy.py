"""Tenant scoping: who is calling, and the only way the server's routes reach memories.

Every user lives inside a tenant. The engine sees composite user ids,
``f"{tenant}::{user_id}"``; tenant names are ``[A-Za-z0-9_-]{1,64}`` and callers'
user ids may not contain ``::``, so the prefix is unambiguous.

``TenantMemory(memory, principal)`` is one caller's view of a ``Memory``, with the same
methods: every ``user_id`` going in is mapped into the caller's tenant
(``Principal.inner``), every id is checked to be the caller's (``NotFound``, never a 403,
for anyone else's: another tenant's ids do not exist for them), and every value coming
out carries the caller's view of user ids (``Principal.outer``). The REST routes, the
inspector, MCP, the chat proxy and maintenance get a ``TenantMemory``, never the
``Memory`` (``tests/server/test_units.py`` checks it); so the tenant rule is stated here,
once.

With ``--no-auth`` there is one implicit tenant whose ids are used as given (so the
server sees the same users as the ``remem`` CLI on that file); the server's own view
(the maintenance schedule, ``/readyz``) is the same unconfined ``Principal(None)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ContextManager, TypeVar

from ..ingest.normalise import MAX_ID_CHARS, check_id
from ..errors import ImportFormatError, InvalidInput, NotFound, StoreError
from .errors import forbidden

if TYPE_CHECKING:
    from ..memory import Memory
    from ..types import AddResult, HistoryEntry, MemoryItem, SearchResult

SEP = "::"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``tenant`` is ``None`` with ``--no-auth``, for the server
    itself, and for an admin key (which manages keys and nothing else)."""

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
        if "\x00" in memory_id:  # never stored (and PostgreSQL cannot even compare it)
            return None
        owner = getattr(self.memory.store, "memory_owner", None)
        if owner is not None:
            return owner(memory_id)  # type: ignore[no-any-return]
        rec = self.memory.store.get(memory_id)  # a custom store: live memories only
        return str(rec.scope.user_id) if rec is not None else None

    def episode_owner(self, episode_id: str) -> str | None:
        if "\x00" in episode_id:
            return None
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
        except (json.JSONDecodeError, ValueError, RecursionError):
            obj = None  # the engine reports it with its line number
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
        if obj.get("superseded_by") is not None:
            refs.append(("memory", obj.get("superseded_by")))
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


T = TypeVar("T")
MAX_SOURCES = 50  # episodes of one memory shown in the inspector's context (segments have many)
MAX_SPAN = 200  # turns between a memory's first and last source episode in one session


class TenantMemory:
    """One caller's view of a ``Memory``: its methods, with user ids as the caller sees
    them. An admin key gets none (403): it manages keys only."""

    def __init__(self, memory: "Memory", principal: Principal) -> None:
        if principal.admin:
            raise forbidden("admin keys manage keys only; use a tenant key")
        self._memory, self.principal = memory, principal
        self._owners = Owners(memory)

    # -- the tenant rule: ids in, ownership, ids out --------------------------------------
    def check_user(self, user_id: Any, what: str = "user_id") -> str:
        """``user_id`` validated as a caller's user id (``what`` names it in the error)."""
        self.principal.inner(user_id, what)
        return str(user_id)

    def _in(self, user_id: Any) -> str:
        return self.principal.inner(user_id)

    def _owner(self, memory_id: Any, user_id: str | None = None) -> str:
        """The engine's user id of a memory the caller owns (of ``user_id``, if given)."""
        owner = self._owners.check_memory(self.principal, memory_id)
        if user_id is not None and owner != self._in(user_id):
            raise NotFound(f"no memory with id {memory_id!r}")
        return owner

    def _out(self, value: T) -> T:
        """An engine value (``MemoryItem``, ``Hit``, ``HistoryEntry``) as the caller sees it."""
        return dataclasses.replace(value, user_id=self.principal.outer(value.user_id))  # type: ignore

    # -- Memory's methods ---------------------------------------------------------------
    def add(self, messages: Any, *, user_id: str, **kw: Any) -> "AddResult":
        return self._memory.add(messages, user_id=self._in(user_id), **kw)

    def search(self, query: str, *, user_id: str, **kw: Any) -> "SearchResult":
        from ..types import SearchResult

        hits = self._memory.search(query, user_id=self._in(user_id), **kw)
        return SearchResult([self._out(h) for h in hits], hits.context, hits.budget_tokens)

    def get_all(self, *, user_id: str, **kw: Any) -> list["MemoryItem"]:
        return [self._out(i) for i in self._memory.get_all(user_id=self._in(user_id), **kw)]

    def count(self, *, user_id: str, **kw: Any) -> int:
        return self._memory.count(user_id=self._in(user_id), **kw)

    def delete_all(self, *, user_id: str, **kw: Any) -> int:
        return self._memory.delete_all(user_id=self._in(user_id), **kw)

    def forget_user(self, user_id: str) -> dict[str, int]:
        """Erase one user of the caller's tenant (``Memory.forget_user``); the tombstone
        names the key that asked."""
        return self._memory.forget_user(self._in(user_id),
                                        actor=f"key:{self.principal.key_id or 'server'}")

    def get(self, memory_id: str, *, user_id: str | None = None) -> "MemoryItem":
        return self._out(self._memory.get(memory_id, user_id=self._owner(memory_id, user_id)))

    def update(self, memory_id: str, text: str, *, user_id: str | None = None) -> "MemoryItem":
        owner = self._owner(memory_id, user_id)
        return self._out(self._memory.update(memory_id, text, user_id=owner))

    def delete(self, memory_id: str, *, user_id: str | None = None) -> None:
        self._memory.delete(memory_id, user_id=self._owner(memory_id, user_id))

    def history(self, memory_id: str, *, user_id: str | None = None) -> list["HistoryEntry"]:
        """Every change to a memory of the caller's (of ``user_id``, if given), also
        after it was deleted."""
        self._owner(memory_id, user_id)
        return [self._out(h) for h in self._memory.history(memory_id)]

    def archive(self, memory_id: str, *, user_id: str | None = None,
                reason: str | None = None) -> "MemoryItem":
        owner = self._owner(memory_id, user_id)
        return self._out(self._memory.archive(memory_id, user_id=owner, reason=reason))

    def restore(self, memory_id: str, *, user_id: str | None = None) -> "MemoryItem":
        return self._out(self._memory.restore(memory_id, user_id=self._owner(memory_id, user_id)))

    def supersede(self, old_id: str, new_id: str, *, user_id: str | None = None,
                  at: Any = None) -> "MemoryItem":
        """Both memories must be the caller's, of the same user."""
        owner = self._owner(old_id, user_id)
        if self._owner(new_id, user_id) != owner:
            raise NotFound(f"no memory with id {new_id!r}")
        return self._out(self._memory.supersede(old_id, new_id, user_id=owner, at=at))

    def summaries(self, *, user_id: str, **kw: Any) -> list["MemoryItem"]:
        return [self._out(i) for i in self._memory.summaries(user_id=self._in(user_id), **kw)]

    def maintain(self, user_id: str | None = None, *, config: Any = None,
                 serial: ContextManager[Any] | None = None) -> Any:
        """Maintain one user of the caller's tenant; every user (``user_id`` None) only
        for the server itself or with ``--no-auth``. ``serial`` (a lock) is held around
        the run, after the checks."""
        if self.principal.tenant is not None and user_id is None:
            raise InvalidInput("user_id is required with a tenant key")
        inner = self._in(user_id) if user_id is not None else None
        with serial or contextlib.nullcontext():
            return self._memory.maintain(inner, config=config)

    def export(self, *, user_id: str) -> str:
        """One user's export file (JSON lines) with the caller's view of user ids."""
        buf = io.StringIO()
        self._memory.export(buf, user_id=self._in(user_id))
        return confine_export(self.principal, buf.getvalue())

    def import_(self, text: str) -> dict[str, int]:
        """Import an export file into the caller's tenant (see ``confine_import``)."""
        return self._memory.import_(confine_import(self.principal, self._owners, text))

    # -- the inspector's reads (store methods beyond the engine's, on SQLite and PostgreSQL)
    def _inspect(self) -> Any:
        store = self._memory.store
        if not hasattr(store, "user_summaries"):
            raise StoreError("the inspector's users, entities and context views need a store "
                             "with inspector reads (the SQLite and PostgreSQL stores have them)")
        return store

    def users(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """The tenant's users with active memories, by user id, and their total."""
        rows, total = self._inspect().user_summaries(self.principal.prefix, limit, offset)
        return [{"user_id": self.principal.outer(u), "memories": int(n or 0), "sessions": s, "agents": a,
                 "first": lo, "last": hi} for u, n, s, a, lo, hi in rows], total

    def context(self, memory_id: str, window: int) -> dict[str, Any]:
        """A live memory's source turns among their neighbours, per conversation."""
        owner = self._owner(memory_id)
        store = self._memory.store
        rec = store.get(memory_id)
        if rec is None or rec.scope.user_id != owner:
            raise NotFound(f"no memory with id {memory_id!r} (deleted memories keep only "
                           "their history)")
        sources = []
        for agent, session, rows, more_before, more_after in self._inspect().episode_windows(
                owner, rec.episode_ids[:MAX_SOURCES], window, MAX_SPAN):
            turn_of = store.turns_of([r[1] for r in rows])
            sources.append({
                "agent_id": agent or None, "session_id": session or None,
                "more_before": more_before, "more_after": more_after,
                "turns": [{"episode_id": r[1], "source_id": r[4], "role": r[5], "name": r[6],
                           "content": r[7], "timestamp": r[8], "memory_id": turn_of.get(r[1]),
                           "is_source": r[1] in rec.episode_ids} for r in rows]})
        return {"memory_id": rec.id, "entities": list(rec.entities),
                "dates": [list(d) for d in rec.dates], "episode_ids": list(rec.episode_ids),
                "sources": sources}

    def entities(self, *, user_id: str, q: str | None, limit: int,
                 offset: int) -> tuple[list[tuple[Any, ...]], int]:
        """A user's entities as (id, name, key, memories) rows, most mentioned first."""
        if q is not None and "\x00" in q:
            raise InvalidInput("q must not contain NUL characters")
        rows, total = self._inspect().entity_list(self._in(user_id), q, limit, offset)
        return rows, total

    def entity(self, *, user_id: str, entity_id: int, limit: int, offset: int
               ) -> tuple[tuple[Any, ...], list["MemoryItem"], list[tuple[Any, ...]]]:
        """One entity of a user: its row, the memories mentioning it, related entities."""
        from ..types import MemoryItem

        uid = self._in(user_id)
        inspect = self._inspect()
        found = inspect.entity_detail(uid, entity_id, limit, offset)
        if found is None:
            raise NotFound(f"no entity with id {entity_id} for this user")
        head, ids, related = found
        items = [self._out(MemoryItem.from_record(m)) for m in inspect.fetch(ids, uid)]
        return head, items, related

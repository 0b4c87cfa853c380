"""``RememStore``: remem as a LangGraph long-term memory store (``BaseStore``).

Namespaces map onto remem scopes: the element at ``user_at`` (default the first) is the
remem ``user_id``, the other elements joined with "/" the ``agent_id``. So
``("ana", "memories")`` is user "ana", agent "memories"; with ``user_at=1``,
``("memories", "ana")`` is the same scope. remem has no unscoped reads: every search
and namespace listing names a user (its prefix reaches ``user_at``).

Each item is one remem memory: its text is the item's indexed fields (``index=[...]``,
default: ``text``/``content``/``memory`` if the value has one, else the whole value as
JSON); the value, key and namespace ride in its metadata. ``put`` on an existing key
replaces the memory (the old text stays in remem's history); ``search`` is remem's
hybrid search, the ``filter`` applied to the values.
"""

from __future__ import annotations

import asyncio
import json
import operator
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from ..errors import InvalidInput, NotFound
from ._need import need

need("langgraph.store.base", "langgraph")

from langgraph.store.base import (  # noqa: E402
    BaseStore, GetOp, Item, ListNamespacesOp, Op, PutOp, Result, SearchItem, SearchOp)

__all__ = ["RememStore"]

_TEXT_FIELDS = ("text", "content", "memory")
_META = "langgraph"  # the metadata key holding {"namespace", "key", "value", "created_at"}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": operator.eq, "$ne": operator.ne, "$gt": operator.gt, "$gte": operator.ge,
    "$lt": operator.lt, "$lte": operator.le}


def _text(value: Mapping[str, Any], index: Any) -> str:
    if isinstance(index, list) and index:
        parts = [value.get(f) for f in index]
        text = " ".join(p if isinstance(p, str) else json.dumps(p) for p in parts if p is not None)
        if text.strip():
            return text
    for f in _TEXT_FIELDS:
        if isinstance(value.get(f), str) and value[f].strip():
            return str(value[f])
    return json.dumps(dict(value), ensure_ascii=False, sort_keys=True)


def _matches(value: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    for field, cond in (flt or {}).items():
        have = value.get(field)
        conds = cond.items() if isinstance(cond, Mapping) else [("$eq", cond)]
        for op, want in conds:
            try:
                if not _OPS[op](have, want):
                    return False
            except KeyError:
                raise InvalidInput(f"unsupported filter operator {op!r}") from None
            except TypeError:
                return False
    return True


class RememStore(BaseStore):
    """A LangGraph ``BaseStore`` over ``memory`` (``Memory`` or ``Client``)."""

    def __init__(self, memory: Any, *, user_at: int = 0, scan_limit: int = 1000) -> None:
        self.memory = memory
        self.user_at = user_at
        self.scan_limit = scan_limit

    # -- namespaces <-> scopes ---------------------------------------------------------
    def _scope(self, namespace: tuple[str, ...]) -> dict[str, Any]:
        if len(namespace) <= self.user_at:
            raise InvalidInput(f"namespace {namespace!r} names no user (element {self.user_at} "
                               "is the remem user_id)")
        rest = [p for i, p in enumerate(namespace) if i != self.user_at]
        return {"user_id": namespace[self.user_at], "agent_id": "/".join(rest) or None}

    def _user(self, prefix: tuple[str, ...]) -> str:
        if len(prefix) <= self.user_at or prefix[self.user_at] == "*":
            raise InvalidInput("remem reads are scoped: the namespace prefix must name the "
                               f"user (element {self.user_at})")
        return prefix[self.user_at]

    # -- the memories of one key -------------------------------------------------------
    def _of_key(self, namespace: tuple[str, ...], key: str) -> list[Any]:
        hits = self.memory.search(key, **self._scope(namespace), limit=50,
                                  filters={"lg_key": key})
        return [h for h in hits if tuple(h.metadata[_META]["namespace"]) == namespace]

    def _item(self, hit: Any, score: float | None = None, search: bool = False) -> Item:
        meta = hit.metadata[_META]
        created = datetime.fromisoformat(meta["created_at"])
        updated = getattr(hit, "updated_at", None) or hit.created_at
        ns, key, value = tuple(meta["namespace"]), meta["key"], meta["value"]
        if search:
            return SearchItem(ns, key, value, created, updated, score)
        return Item(value=value, key=key, namespace=ns, created_at=created, updated_at=updated)

    def _get(self, op: GetOp) -> Item | None:
        hits = self._of_key(op.namespace, op.key)
        return self._item(hits[0]) if hits else None

    def _put(self, op: PutOp) -> None:
        old = self._of_key(op.namespace, op.key)
        created = old[0].metadata[_META]["created_at"] if old else \
            datetime.now(timezone.utc).isoformat()
        for h in old:
            try:
                self.memory.delete(h.id)
            except NotFound:  # deleted meanwhile
                pass
        if op.value is None:
            return
        meta = {"lg_key": op.key, _META: {"namespace": list(op.namespace), "key": op.key,
                                          "value": dict(op.value), "created_at": created}}
        self.memory.add([{"role": "user", "content": _text(op.value, op.index)}],
                        **self._scope(op.namespace), metadata=meta)

    def _in(self, prefix: tuple[str, ...], hit: Any) -> bool:
        meta = hit.metadata.get(_META)
        return meta is not None and tuple(meta["namespace"][:len(prefix)]) == prefix

    def _search(self, op: SearchOp) -> list[SearchItem]:
        user = self._user(op.namespace_prefix)
        want = op.offset + op.limit
        seen: set[tuple[tuple[str, ...], str]] = set()
        out: list[SearchItem] = []
        if op.query:
            rows = [(h, h.score) for h in self.memory.search(
                op.query, user_id=user, limit=min(max(want * 4, 20), self.scan_limit))]
        else:
            rows = [(m, None) for m in self.memory.get_all(user_id=user, limit=self.scan_limit)]
        for row, score in rows:
            if not self._in(op.namespace_prefix, row):
                continue
            meta = row.metadata[_META]
            ident = (tuple(meta["namespace"]), meta["key"])
            if ident in seen or not _matches(meta["value"], op.filter):
                continue
            seen.add(ident)
            out.append(self._item(row, score, search=True))  # type: ignore[arg-type]
        return out[op.offset:want]

    def _namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conds = op.match_conditions or ()
        prefixes = [c.path for c in conds if c.match_type == "prefix"]
        if not prefixes:
            raise InvalidInput("remem reads are scoped: list namespaces with a prefix "
                               "condition that names the user")
        found: set[tuple[str, ...]] = set()
        for m in self.memory.get_all(user_id=self._user(tuple(prefixes[0])), limit=self.scan_limit):
            meta = m.metadata.get(_META)
            if meta is None:
                continue
            ns = tuple(meta["namespace"])
            if all(_path_matches(ns, c.path, c.match_type) for c in conds):
                found.add(ns[:op.max_depth] if op.max_depth is not None else ns)
        return sorted(found)[op.offset:op.offset + op.limit]

    # -- BaseStore ---------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        out: list[Result] = []
        for op in ops:
            if isinstance(op, GetOp):
                out.append(self._get(op))
            elif isinstance(op, PutOp):
                out.append(self._put(op))  # type: ignore[func-returns-value]
            elif isinstance(op, SearchOp):
                out.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                out.append(self._namespaces(op))
            else:
                raise InvalidInput(f"unknown store operation {op!r}")
        return out

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))


def _path_matches(ns: tuple[str, ...], path: tuple[str, ...], kind: str) -> bool:
    if len(path) > len(ns):
        return False
    part = ns[:len(path)] if kind == "prefix" else ns[len(ns) - len(path):]
    return all(p == "*" or p == n for p, n in zip(path, part))

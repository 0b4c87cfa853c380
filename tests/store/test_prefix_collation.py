"""Issue 15, item 6: the tenant-prefix range of ``user_summaries`` (``GET /v1/users``)
compares in byte order on every store. Under a locale collation (en_US.UTF-8 ignores
punctuation at the first level) ``'acme::x' < 'acme:;'`` is false, and every tenant's user
list came back empty on PostgreSQL; the range now uses the dialect's ``COLLATE "C"``."""

from __future__ import annotations

from typing import Any

from remem import HashingEmbedder, Memory
from remem.store.inspect import _prefix_range
from remem.store.postgres.store import DIALECT as PG
from remem.store.sqlite.store import DIALECT as SQLITE


def test_the_prefix_range_compares_bytes() -> None:
    where, args = _prefix_range("acme::", PG.binary)
    assert where.count('COLLATE "C"') == 2 and args == ["acme::", "acme:;"]
    assert _prefix_range("acme::", SQLITE.binary)[0] == "user_id >= ? AND user_id < ?"


def test_user_summaries_by_tenant_prefix(store_url: str) -> None:
    with Memory(store_url, embedder=HashingEmbedder()) as m:
        for uid in ("acme::ana", "acme::bob", "acme-2::eve", "acmf::zed", "acme:x"):
            m.add("hello there", user_id=uid)
        store: Any = m.store
        rows, total = store.user_summaries("acme::", 10, 0)
        assert [r[0] for r in rows] == ["acme::ana", "acme::bob"] and total == 2

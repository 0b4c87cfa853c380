"""The bound on users' caches both stores keep (``columns.least_recent``)."""

from __future__ import annotations

from collections import OrderedDict

from remem.store.columns import least_recent


def test_least_recent_users_go_first_and_the_current_one_never() -> None:
    recent: OrderedDict[str, int] = OrderedDict([("a", 40), ("b", 30), ("c", 20)])
    recent["a"] = 45  # "a" used again: now the most recent
    assert least_recent(recent, "a", 70) == ["b"]  # 95 -> 65 memories
    assert list(recent) == ["c", "a"]
    assert least_recent(recent, "c", 1000) == [] and list(recent) == ["a", "c"]
    recent["d"] = 500  # one user over the budget alone keeps its cache
    assert least_recent(recent, "d", 100) == ["a", "c"] and list(recent) == ["d"]

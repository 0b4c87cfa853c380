"""Issue 15, item 4: ``forget_user`` erases every byte of a user on every store. After it,
nothing of the user is readable through the API, no table row holds the user's text, and
on SQLite the marker is not in the file bytes (database, -wal, -shm); only a tombstone is
left. ``delete_all`` keeps the history (it is not an erasure)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

import pytest

from remem import InvalidInput, Memory

MARK = "zanzibarquokka"  # a word found nowhere else


def _fill(m: Memory, user: str, mark: str) -> list[str]:
    m.add([{"role": "user", "content": f"My secret word is {mark} and I met Ottoline "
                                       f"in Lisbon last June", "name": "Ana"},
           {"role": "assistant", "content": f"Noted: {mark}."}],
          user_id=user, session_id="s1", metadata={"tag": mark}, timestamp="2024-07-01")
    m.add(f"{mark} again, with Ottoline", user_id=user, agent_id="bot", session_id="s2")
    ids = [i.id for i in m.get_all(user_id=user, limit=100)]
    m.update(ids[0], f"edited {mark} text", user_id=user)  # history holds old and new text
    m.delete(ids[1], user_id=user)  # a deleted memory's history too
    m.search(f"what is {mark}?", user_id=user)  # caches warm
    return ids


def _rows_with(store_url: str, mark: str) -> dict[str, int]:
    """Rows of every remem table whose text contains ``mark``."""
    if store_url.startswith("postgresql://"):
        import psycopg

        from remem.store.postgres.schema import TABLES

        with psycopg.connect(store_url) as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t} x WHERE x::text LIKE %s",
                                    (f"%{mark}%",)).fetchone()[0] for t in TABLES}
    import sqlite3

    db = sqlite3.connect(store_url)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type='table'")]
        out = {}
        for t in tables:
            cols = [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
            cond = " OR ".join(f"CAST({c} AS TEXT) LIKE ?" for c in cols)
            out[t] = db.execute(f"SELECT count(*) FROM {t} WHERE {cond}",
                                [f"%{mark}%"] * len(cols)).fetchone()[0]
        return out
    finally:
        db.close()


def test_forget_user_erases_every_byte_and_keeps_a_tombstone(
        open_store: Callable[..., Memory], store_url: str) -> None:
    m = open_store()
    _fill(m, "gone", MARK)
    _fill(m, "stays", "keepsakewombat")
    assert sum(_rows_with(store_url, MARK).values()) > 0

    counts = m.forget_user("gone", actor="test")
    assert counts["memories"] >= 2 and counts["episodes"] >= 3 and counts["history"] >= 3
    assert counts["entities"] >= 1

    # nothing of the user is readable
    assert m.get_all(user_id="gone") == [] and m.count(user_id="gone") == 0
    assert len(m.search(MARK, user_id="gone")) == 0
    buf = io.StringIO()
    assert sum(m.export(buf, user_id="gone").values()) == 0
    assert sum(_rows_with(store_url, MARK).values()) == 0, _rows_with(store_url, MARK)
    # the other user is untouched
    assert m.search("keepsakewombat", user_id="stays")[0].text
    assert _rows_with(store_url, "keepsakewombat")["memories"] >= 1
    # the tombstone: who, when, by whom, how many
    (tomb,) = m.store.erasures("gone")
    assert tomb["actor"] == "test" and tomb["counts"] == counts and tomb["at"] > 0
    if not store_url.startswith("postgresql://"):
        m.close()
        for suffix in ("", "-wal", "-shm"):
            p = Path(store_url + suffix)
            if p.exists():
                assert MARK.encode() not in p.read_bytes(), f"{MARK} still in {p.name}"
        assert b"keepsakewombat" in Path(store_url).read_bytes()


def test_forget_user_then_the_user_can_start_again(open_store: Callable[..., Memory]) -> None:
    m = open_store()
    _fill(m, "again", MARK)
    m.forget_user("again")
    m.add("a fresh start in Porto", user_id="again")
    assert [h.text for h in m.search("Porto", user_id="again")] == ["a fresh start in Porto"]
    assert m.count(user_id="again") == 1


def test_delete_all_keeps_history_forget_user_does_not(open_store: Callable[..., Memory],
                                                        store_url: str) -> None:
    m = open_store()
    _fill(m, "u", MARK)
    m.delete_all(user_id="u")
    left = _rows_with(store_url, MARK)
    assert left["history"] > 0 and left["memories"] == 0 and left["entities"] == 0 or \
        left["history"] > 0, left
    m.forget_user("u")
    assert sum(_rows_with(store_url, MARK).values()) == 0


def test_forget_user_checks_its_arguments(open_store: Callable[..., Memory]) -> None:
    m = open_store()
    for bad in (None, "", "x" * 300, 3):
        with pytest.raises(InvalidInput):
            m.forget_user(bad)  # type: ignore[arg-type]
    assert m.forget_user("nobody") == {"memories": 0, "episodes": 0, "history": 0,
                                       "entities": 0}

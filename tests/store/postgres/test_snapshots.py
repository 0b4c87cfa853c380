"""No cold start on PostgreSQL: a large scope's search values are saved in the database and
a fresh worker starts from them, brought up to date by the usual incremental path. What
it answers must equal what a worker building from the rows answers, after adds, updates,
deletes and archives made by another worker since the save; an unreadable saved value is
rebuilt; an erased user leaves no saved value behind."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from remem import HashingEmbedder, Memory
from remem.search.terms import terms_of
from remem.store.lexicon import LexCache
from remem.store.postgres import PostgresStore
from remem.store.postgres.lexical import CODEC
from remem.store.postgres.snapshots import LOCK_CLASS
from remem.store.snapshots import due
from remem.types import Scope

from ..conftest import new_pg_database

QUERIES = ["guitar lessons", "trip to Lisbon", "dog", "birthday present for my sister",
           "what did Bruno say about the marathon"]
TOPICS = ["guitar lessons", "a trip to Lisbon", "my dog Pimenta", "a birthday present",
          "the marathon", "sourdough bread"]
PEOPLE = ["Ana", "Bruno", "Chiara"]
MIN = 50  # snapshot_min in these tests


def _worker(dsn: str, snapshot_min: int = MIN, pool_size: int = 10) -> Memory:
    """A fresh worker: its own store object, nothing cached."""
    return Memory(store=PostgresStore(dsn, snapshot_min=snapshot_min, pool_size=pool_size),
                  embedder=HashingEmbedder())


def _turns(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"role": "user", "name": PEOPLE[i % 3], "id": f"t{i}",
             "content": f"{PEOPLE[i % 3]} wrote note {i} about {TOPICS[i % len(TOPICS)]} "
                        f"with {PEOPLE[(i + 1) % 3]}"} for i in range(start, start + n)]


def _answers(m: Memory) -> list[Any]:
    out: list[Any] = []
    scope = Scope("u")
    for q in QUERIES:
        out.append([(h.id, round(h.score, 9)) for h in m.search(q, user_id="u", limit=10)])
        out.append(m.store.doc_freqs(scope, list(terms_of(q).terms)))
    st = m.store
    out.append((st.scope_size("u"), sorted(st.entity_stats("u").items()), sorted(st.speakers("u"))))
    return out


def _kinds(dsn: str, user: str = "u") -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT kind, version FROM search_snapshots WHERE user_id=%s",
                                 (user,)).fetchall())


def test_the_growth_rule() -> None:
    assert not due(9_999, None) and due(10_000, None)
    assert not due(12_500, 10_000) and due(12_501, 10_000)  # a quarter more
    assert not due(2_000, 1_500, minimum=100) and due(2_501, 1_500, minimum=100)  # >= 1,000


def test_a_fresh_worker_answers_like_a_fresh_build(pg_server: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = new_pg_database(pg_server)
    with _worker(dsn) as m:
        m.add(_turns(40), user_id="u", session_id="s1")
        m.search("guitar", user_id="u")  # 40 memories: too small to save
        m.add(_turns(80, 40), user_id="u", session_id="s2")
        m.search("guitar", user_id="u")  # builds on, and saves after the search
    kinds = _kinds(dsn)
    assert {"lexicon", "size", "entities", "speakers"} <= set(kinds)
    assert any(k.startswith("vectors:") for k in kinds)
    # another worker changes the scope after the save
    with _worker(dsn) as other:
        ids = [r.id for r in other.get_all(user_id="u", limit=5)]
        other.update(ids[0], "Ana has brand new guitar lessons in Lisbon", user_id="u")
        other.delete(ids[1], user_id="u")
        other.archive(ids[2], user_id="u")
        other.add(_turns(7, 500), user_id="u", session_id="s3")
    loaded: list[int] = []
    real = LexCache.from_bytes
    monkeypatch.setattr(LexCache, "from_bytes", staticmethod(
        lambda b: loaded.append(1) or real(b)))
    with _worker(dsn) as warm:
        saved = _answers(warm)
        assert loaded, "the saved index was not used"
        assert saved == _built(dsn)
        # a worker that started from saved values follows changes made by another one
        with _worker(dsn) as other:
            other.add(_turns(5, 600), user_id="u", session_id="s4")
            other.add([{"role": "user", "name": "Dmitri", "content": "Dmitri ran the "
                        "marathon with Ottoline"}], user_id="u", session_id="s4")
            other.delete(ids[3], user_id="u")
        followed = _answers(warm)
        assert followed == _built(dsn) != saved


def _built(dsn: str) -> list[Any]:
    """What a worker answers that builds every value from the rows."""
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM search_snapshots")
    with _worker(dsn, snapshot_min=10**9) as cold:
        return _answers(cold)


@pytest.mark.parametrize("pool_size", [10, 1])  # 1: loads one value at a time
def test_saved_values_follow_adds_since_the_save(pg_server: Any, pool_size: int) -> None:
    """The saved value is behind: a fresh worker appends what was added after it."""
    dsn = new_pg_database(pg_server)
    with _worker(dsn) as m:
        m.add(_turns(100), user_id="u", session_id="s1")
        m.search("dog", user_id="u")
    with _worker(dsn) as m:
        m.add(_turns(20, 100) + [{"role": "user", "name": "Dmitri", "content": "Dmitri "
                                  "ran the marathon"}],
              user_id="u", session_id="s2")  # not saved again: < 1,000 more
    assert _kinds(dsn)["lexicon"] < _state(dsn)[0]
    with _worker(dsn, pool_size=pool_size) as warm:
        saved = _answers(warm)
    assert saved == _built(dsn)


def _state(dsn: str, user: str = "u") -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT version, mutations FROM scope_versions WHERE user_id=%s",
                           (user,)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def test_an_unreadable_saved_value_is_rebuilt(pg_server: Any) -> None:
    dsn = new_pg_database(pg_server)
    with _worker(dsn) as m:
        m.add(_turns(60), user_id="u", session_id="s1")
        before = _answers(m)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("UPDATE search_snapshots SET data = '\\x00'").rowcount >= 5
    with _worker(dsn) as m:
        assert _answers(m) == before


def test_erasure_leaves_no_saved_value(pg_server: Any) -> None:
    dsn = new_pg_database(pg_server)
    with _worker(dsn) as m:
        for user in ("gone", "emptied", "stays"):
            m.add(_turns(60), user_id=user, session_id="s1")
            m.add(f"zanzibarquokka of {user}", user_id=user, session_id="s2")
            m.search("zanzibarquokka", user_id=user)
        m.store.close()  # saves done (close finishes them)
        for user in ("gone", "emptied", "stays"):
            assert "lexicon" in _kinds(dsn, user)
    with _worker(dsn) as m:
        m.forget_user("gone")
        m.delete_all(user_id="emptied")
        m.delete_all(user_id="stays", session_id="s2")  # part of a user: the values stay
    with psycopg.connect(dsn) as conn:
        users = {r[0] for r in conn.execute("SELECT user_id FROM search_snapshots").fetchall()}
    assert users == {"stays"}


def test_a_save_never_outlives_an_erasure(pg_server: Any) -> None:
    """A worker holding a user's values must not save them once the user was erased,
    nor while an erasure holds the user's lock."""
    dsn = new_pg_database(pg_server)
    with _worker(dsn, snapshot_min=10**9) as m:  # holds values, saves nothing by itself
        m.add(_turns(60), user_id="u", session_id="s1")
        m.search("dog", user_id="u")
        st: Any = m.store
        with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s::int, hashtext('u'))", (LOCK_CLASS,))
            st._save("lexicon", "u", CODEC)  # the erasure holds the lock: no save
        assert _kinds(dsn) == {}
        with _worker(dsn) as other:
            other.forget_user("u")
        st._save("lexicon", "u", CODEC)  # the values predate the erasure: no save
        assert _kinds(dsn) == {}
        st._save("lexicon", "u", CODEC)  # (nor does it retry without a new value)
        assert _kinds(dsn) == {}

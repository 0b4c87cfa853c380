"""Two ``remem serve`` workers on one PostgreSQL database, API keys on: concurrent clients
add (alternating workers, some adds re-sent to the other worker, some sent to both at
once) and search. Then every acknowledged add is present exactly once and searchable from
every worker, and no request got a 5xx. Bounded: ~6 x 40 adds, well under a minute.
Prints the numbers with ``-s``."""

from __future__ import annotations

import json
import random
import statistics
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.kit import Server, remem

from .conftest import new_pg_database

CLIENTS = 6
ADDS = 40  # per client
USERS = 3  # two clients share each user: concurrent writes into one scope
BUDGET = 60.0  # seconds for the whole test


@dataclass
class Client:
    n: int
    user: str
    acked: dict[str, tuple[str, str]] = field(default_factory=dict)  # caller id -> (token, memory id)
    status: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=lambda: {"add": [], "search": []})
    resent: int = 0
    raced: int = 0
    read_own: int = 0


def _token(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(12))


def _call(cl: Client, http: httpx.Client, kind: str, method: str, url: str,
          **kw: Any) -> httpx.Response:
    t0 = time.perf_counter()
    r = http.request(method, url, **kw)
    cl.latency[kind].append(time.perf_counter() - t0)
    cl.status.append(r.status_code)
    return r


def _hit_ids(r: httpx.Response) -> list[str]:
    return [h["id"] for h in r.json()["hits"]]


def _drive(cl: Client, workers: list[httpx.Client], deadline: float) -> None:
    rng = random.Random(cl.n)
    for i in range(ADDS):
        if time.monotonic() > deadline:
            cl.errors.append("out of time")
            return
        caller_id, token = f"c{cl.n}-{i}", _token(rng)
        body = {"user_id": cl.user, "session_id": f"s{cl.n}", "messages": [
            {"role": "user", "name": "Ana", "id": caller_id,
             "content": f"remember the code word {token} for task {i}"}]}
        first, other = workers[(cl.n + i) % 2], workers[(cl.n + i + 1) % 2]
        if i % 10 == 9:  # the same add to both workers at once: one stores it, one skips
            with ThreadPoolExecutor(2) as pool:
                rs = list(pool.map(lambda w: _call(cl, w, "add", "POST", "/v1/memories",
                                                   json=body), (first, other)))
            cl.raced += 1
        else:
            rs = [_call(cl, first, "add", "POST", "/v1/memories", json=body)]
            if i % 4 == 0:  # a client retry, landing on the other worker
                rs.append(_call(cl, other, "add", "POST", "/v1/memories", json=body))
                cl.resent += 1
        if any(r.status_code != 201 for r in rs):
            cl.errors.extend(f"add {caller_id}: {r.status_code} {r.text[:200]}" for r in rs
                             if r.status_code != 201)
            continue
        got = [r.json() for r in rs]
        stored = [g["memory_ids"] for g in got if g["memory_ids"]]
        if len(stored) != 1 or len(stored[0]) != 1 or sum(g["skipped"] for g in got) != len(rs) - 1 \
                or len({tuple(g["episode_ids"]) for g in got}) != 1:
            cl.errors.append(f"add {caller_id} not idempotent: {got}")
            continue
        cl.acked[caller_id] = (token, stored[0][0])
        if rng.random() < 0.4:  # read-your-write through the other worker, right away
            r = _call(cl, other, "search", "POST", "/v1/search",
                      json={"query": token, "user_id": cl.user, "limit": 5})
            if r.status_code != 200 or stored[0][0] not in _hit_ids(r):
                cl.errors.append(f"search {token} on the other worker: {r.status_code} {r.text[:200]}")
            cl.read_own += 1
        elif cl.acked and rng.random() < 0.5:  # an earlier token, any worker
            old_token, old_id = cl.acked[rng.choice(list(cl.acked))]
            r = _call(cl, rng.choice(workers), "search", "POST", "/v1/search",
                      json={"query": old_token, "user_id": cl.user, "limit": 5})
            if r.status_code != 200 or old_id not in _hit_ids(r):
                cl.errors.append(f"search {old_token}: {r.status_code} {r.text[:200]}")


def _pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else 0.0


def test_two_workers_one_database(pg_server: Any, tmp_path: Path) -> None:
    start = time.monotonic()
    deadline = start + BUDGET - 15  # leave time for the checks
    dsn = new_pg_database(pg_server)
    out = remem(tmp_path, dsn, "keys", "create", "--tenant", "fleet", "--name", "multi-worker")
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)["key"]
    out = remem(tmp_path, dsn, "keys", "list", "--tenant", "fleet")
    assert out.returncode == 0 and json.loads(out.stdout)["tenant"] == "fleet", out.stderr
    servers: list[Server] = []
    for i in range(2):
        (tmp_path / f"w{i}").mkdir()
    servers.append(Server(tmp_path / "w0", db=dsn))
    # the second worker names the database with `serve --store DSN` (its --db is a file
    # path that is never created: --store wins)
    servers.append(Server(tmp_path / "w1", "--store", dsn, db=tmp_path / "w1" / "unused.db"))
    try:
        http = [s.client(key) for s in servers]
        clients = [Client(n, f"u{n % USERS}") for n in range(CLIENTS)]
        t0 = time.monotonic()
        threads = [threading.Thread(target=_drive, args=(c, http, deadline)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=BUDGET)
        load_s = time.monotonic() - t0
        errors = [e for c in clients for e in c.errors]
        statuses = [s for c in clients for s in c.status]
        assert not [s for s in statuses if s >= 500], "5xx during the load"
        assert not errors, errors[:10]

        # every acknowledged add: exactly once in its user's scope, as seen by each worker
        by_user: dict[str, dict[str, tuple[str, str]]] = {}
        for c in clients:
            by_user.setdefault(c.user, {}).update(c.acked)
        assert sum(len(a) for a in by_user.values()) == CLIENTS * ADDS
        for h in http:
            for user, acked in by_user.items():
                r = h.get("/v1/memories", params={"user_id": user, "limit": 1000})
                assert r.status_code == 200, r.text
                page = r.json()
                assert page["total"] == len(acked) == len(page["memories"])
                seen = [sid for m in page["memories"] for sid in m["source_ids"]]
                assert sorted(seen) == sorted(acked), "an add is missing or stored twice"
                assert {m["id"] for m in page["memories"]} == {mid for _, mid in acked.values()}

        # and searchable from every worker
        def find(job: tuple[int, str, str, str]) -> str | None:
            w, user, token, mid = job
            r = http[w].post("/v1/search", json={"query": token, "user_id": user, "limit": 5})
            if r.status_code != 200 or mid not in _hit_ids(r):
                return f"worker {w} user {user} token {token}: {r.status_code}"
            return None

        jobs = [(w, user, tok, mid) for w in range(2) for user, acked in by_user.items()
                for tok, mid in acked.values()]
        t1 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            misses = [m for m in pool.map(find, jobs) if m]
        check_s = time.monotonic() - t1
        assert not misses, misses[:10]

        # keys are shared: revoked with the CLI, refused by both workers on the next request
        out = remem(tmp_path, dsn, "keys", "revoke", json.loads(out.stdout)["id"])
        assert out.returncode == 0 and json.loads(out.stdout)["active"] is False, out.stderr
        for h in http:
            assert h.get("/v1/memories", params={"user_id": "u0"}).status_code == 401

        lat_add = [x for c in clients for x in c.latency["add"]]
        lat_search = [x for c in clients for x in c.latency["search"]]
        print(f"\nmulti-worker: {CLIENTS} clients x {ADDS} adds on 2 workers in {load_s:.1f}s; "
              f"{len(statuses)} requests ({len(lat_add)} adds incl. "
              f"{sum(c.resent for c in clients)} retries to the other worker and "
              f"{sum(c.raced for c in clients)} simultaneous pairs, {len(lat_search)} searches, "
              f"{sum(c.read_own for c in clients)} read-your-write on the other worker); "
              f"0 errors, 0 5xx; add p50 {_pct(lat_add, .5):.1f} ms p95 {_pct(lat_add, .95):.1f} ms; "
              f"search p50 {_pct(lat_search, .5):.1f} ms p95 {_pct(lat_search, .95):.1f} ms; "
              f"{len(jobs)} final searches in {check_s:.1f}s all found")
        for h in http:
            h.close()
    finally:
        for s in servers:
            s.stop()
    for s in servers:
        err = s.stderr()
        assert "internal error" not in err and "Traceback" not in err, err[-3000:]
    assert time.monotonic() - start < BUDGET


@pytest.mark.parametrize("restart", [0, 40])
def test_a_write_on_one_worker_is_seen_by_the_next_search_on_the_other(pg_server: Any,
                                                                        restart: int) -> None:
    """Two stores on one database stand for two workers, each with its own in-memory
    search caches. 1,000 steps: a write (add, update or delete) through one, then a search
    through either; the search must see the write (0 stale answers). With ``restart``,
    scopes of 20+ memories have their values saved, and every ``restart`` steps one worker
    is replaced by a fresh one, which starts from the saved values."""
    from remem import HashingEmbedder, Memory
    from remem.search.terms import terms_of
    from remem.store.postgres import PostgresStore
    from remem.types import Scope

    dsn = new_pg_database(pg_server)

    def worker() -> Memory:
        store = PostgresStore(dsn, snapshot_min=20 if restart else 10**9)
        return Memory(store=store, embedder=HashingEmbedder())

    workers = [worker() for _ in range(2)]
    rng = random.Random(16)
    live: dict[tuple[str, str], str] = {}  # (user, token) -> memory id
    stale: list[str] = []
    model = workers[0].embedder.name

    def lexical(m: Memory, user: str, token: str) -> list[str]:
        return [i for i, _ in m.store.lexical(Scope(user), terms_of(token), 5)]

    try:
        for step in range(1000):
            if restart and step % restart == restart - 1:
                i = rng.randrange(2)
                workers[i].close()  # (finishes its saves)
                workers[i] = worker()
            w, r = rng.sample(workers, 2) if rng.random() < 0.8 else [rng.choice(workers)] * 2
            user = f"u{rng.randrange(2)}"
            mine = [k for k in live if k[0] == user]
            op = rng.random()
            if op < 0.6 or not mine:
                token = _token(rng)
                res = w.add([{"role": "user", "content": f"the code word is {token}"}],
                            user_id=user)
                mid = res.memory_ids[0]
                live[(user, token)] = mid
                if mid not in lexical(r, user, token):
                    stale.append(f"{step}: add {token} not found")
                term = terms_of(token).terms[0]  # stemmed
                n, dfs = r.store.doc_freqs(Scope(user), [term])
                if dfs[term] != 1 or n != len(mine) + 1:
                    stale.append(f"{step}: doc_freqs after add {n} {dfs}")
                if r.store.scope_size(user) != len(mine) + 1:
                    stale.append(f"{step}: scope size after add {r.store.scope_size(user)}")
                if step % 5 == 0:  # a whole search too (pinned: saves wait for its end)
                    hits = r.search(f"code word {token}", user_id=user, limit=3)
                    if mid not in [h.id for h in hits]:
                        stale.append(f"{step}: search for {token} missed it")
            elif op < 0.8:
                key = rng.choice(mine)
                mid, token = live.pop(key), _token(rng)
                w.update(mid, f"the code word is {token}")
                live[(user, token)] = mid
                if mid not in lexical(r, user, token) or mid in lexical(r, user, key[1]):
                    stale.append(f"{step}: update {key[1]} -> {token} not seen")
            else:
                key = rng.choice(mine)
                mid = live.pop(key)
                w.delete(mid)
                if mid in lexical(r, user, key[1]) or r.store.vectors_of(user, [mid], model):
                    stale.append(f"{step}: deleted {key[1]} still found")
        assert not stale, stale[:10]
    finally:
        for m in workers:
            m.close()

"""A bounded load test on 127.0.0.1: 8 concurrent clients (two tenants), mixed add and
search for ~20 s against one ``remem serve``. Zero errors; every acknowledged add is then
present exactly once and searchable. Prints throughput and latency percentiles (-s)."""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .kit import Server

CLIENTS = 8
DURATION = 20.0
MAX_REQUESTS = 20_000  # per client, a bound besides the time


@dataclass
class Worker:
    n: int
    key: str
    user: str
    acked: list[tuple[str, list[str]]] = field(default_factory=list)  # (token, memory ids)
    latency: dict[str, list[float]] = field(default_factory=lambda: {"add": [], "search": []})
    errors: list[str] = field(default_factory=list)


def _run(server: Server, w: Worker, deadline: float) -> None:
    rng = random.Random(w.n)
    with server.client(w.key) as c:
        for i in range(MAX_REQUESTS):
            if time.monotonic() >= deadline:
                return
            try:
                if not w.acked or rng.random() < 0.5:
                    token = f"qz{w.n}n{i}w"
                    msgs = [{"role": "user", "id": f"{token}-{k}",
                             "content": f"note {k} about {token} and the weather"}
                            for k in range(rng.randint(1, 3))]
                    t0 = time.perf_counter()
                    r = c.post("/v1/memories", json={"user_id": w.user, "messages": msgs})
                    w.latency["add"].append(time.perf_counter() - t0)
                    if r.status_code != 201:
                        w.errors.append(f"add {r.status_code} {r.text[:200]}")
                        continue
                    w.acked.append((token, list(r.json()["memory_ids"])))
                else:
                    token, ids = rng.choice(w.acked)
                    t0 = time.perf_counter()
                    r = c.post("/v1/search", json={"user_id": w.user, "query": token, "limit": 5})
                    w.latency["search"].append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        w.errors.append(f"search {r.status_code} {r.text[:200]}")
                    elif not {h["id"] for h in r.json()["hits"]} & set(ids):
                        w.errors.append(f"search for acknowledged {token} missed it")
            except Exception as exc:  # noqa: BLE001 - every failure is counted, then asserted
                w.errors.append(f"{type(exc).__name__}: {exc}")


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def test_concurrent_clients_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    server = Server(tmp_path)
    try:
        keys = [server.create_key("--tenant", f"load{t}")["key"] for t in range(2)]
        workers = [Worker(n, keys[n % 2], f"user{n // 2}") for n in range(CLIENTS)]
        deadline = time.monotonic() + DURATION
        t0 = time.perf_counter()
        threads = [threading.Thread(target=_run, args=(server, w, deadline)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=DURATION + 120)
        elapsed = time.perf_counter() - t0
        assert not any(t.is_alive() for t in threads)

        adds = [x for w in workers for x in w.latency["add"]]
        searches = [x for w in workers for x in w.latency["search"]]
        errors = [e for w in workers for e in w.errors]
        total = len(adds) + len(searches)
        print(f"\nload: {CLIENTS} clients, {elapsed:.1f}s, {total} requests, "
              f"{total / elapsed:.0f} req/s ({len(adds) / elapsed:.0f} adds/s, "
              f"{len(searches) / elapsed:.0f} searches/s), errors {len(errors)}\n"
              f"      add    p50 {_pct(adds, 0.5):.1f} ms  p95 {_pct(adds, 0.95):.1f} ms  "
              f"p99 {_pct(adds, 0.99):.1f} ms\n"
              f"      search p50 {_pct(searches, 0.5):.1f} ms  p95 {_pct(searches, 0.95):.1f} ms  "
              f"p99 {_pct(searches, 0.99):.1f} ms\n"
              f"      all    p95 {_pct(adds + searches, 0.95):.1f} ms  "
              f"mean {statistics.fmean(adds + searches) * 1000:.1f} ms")
        assert errors == [], errors[:10]
        assert len(adds) > 100 and len(searches) > 100

        failures: list[BaseException] = []

        def verify(w: Worker) -> None:
            try:
                _verify(server, w)
            except BaseException as exc:  # re-raised below, in the test's thread
                failures.append(exc)

        checkers = [threading.Thread(target=verify, args=(w,)) for w in workers]
        for t in checkers:
            t.start()
        for t in checkers:
            t.join(timeout=300)
        if failures:
            raise failures[0]
        err = server.stderr()
        assert "internal error" not in err and "Traceback" not in err, err[-3000:]
    finally:
        server.stop()


def _verify(server: Server, w: Worker) -> None:
    """Every acknowledged add is stored exactly once (nothing lost, nothing doubled, nothing
    unacknowledged) and its token finds it."""
    with server.client(w.key) as c:
        stored: list[dict[str, Any]] = []
        while True:
            page = c.get("/v1/memories", params={"user_id": w.user, "limit": 1000, "type": "all",
                                                 "offset": len(stored)}).json()
            stored += page["memories"]
            if not page["memories"]:
                break
        assert len(stored) == page["total"]
        turns = [m for m in stored if m["type"] == "turn"]
        acked_ids = [i for _, ids in w.acked for i in ids]
        counts = Counter(m["id"] for m in stored)
        assert all(counts[i] == 1 for i in acked_ids)
        assert set(acked_ids) == {m["id"] for m in stored}  # no write without an ack
        texts = Counter(m["text"] for m in turns)
        assert all(n == 1 for n in texts.values())
        assert len(turns) == sum(1 for m in turns if m["source_ids"][0].startswith(f"qz{w.n}n"))
        for token, ids in w.acked:
            hits = c.post("/v1/search", json={"user_id": w.user, "query": token, "limit": 5}).json()
            assert set(ids) & {h["id"] for h in hits["hits"]}, token

"""Searches spread over random users of a ``remem bench scale --users N`` store, in a
fresh process: each user's first search builds (or loads) that user's indexes
(docs/benchmarks.md, "1M memories over 1,000 users").

    python scripts/first_searches.py STORE [SEARCHES] [--hashing]

STORE: a store file or a postgresql:// DSN; ``--hashing`` when the store was filled with
``remem --embedder hashing``. Prints p50/p95 of users' first searches and of the rest."""

from __future__ import annotations

import random
import sys
import time

from remem import HashingEmbedder, Memory
from remem.bench.scale import synthetic_queries


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--hashing"]
    store, n = args[0], (int(args[1]) if len(args) > 1 else 200)
    embedder = HashingEmbedder() if "--hashing" in sys.argv else None
    rng = random.Random(7)
    with Memory(store, embedder=embedder) as m:
        users = sorted(u for u in m.store.user_ids() if u.startswith("scale-"))
        if not users:
            raise SystemExit("no scale-* users in the store: fill it with remem bench scale")
        m.search("warm up", user_id=users[0])
        first: list[float] = []
        later: list[float] = []
        seen = {users[0]}
        for q in synthetic_queries(n, 1):
            u = rng.choice(users)
            t = time.perf_counter()
            m.search(q, user_id=u)
            (later if u in seen else first).append(1000 * (time.perf_counter() - t))
            seen.add(u)
    for name, xs in (("first search of a user", first), ("later searches", later)):
        if xs:
            xs.sort()
            print(f"{name}: n {len(xs)} p50 {xs[len(xs) // 2]:.1f} "
                  f"p95 {xs[int(len(xs) * 0.95)]:.1f} ms")


if __name__ == "__main__":
    main()

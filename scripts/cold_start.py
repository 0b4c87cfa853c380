"""First search of a large user in a fresh process (docs/benchmarks.md, "Cold start").

    python scripts/cold_start.py STORE [USER] [--hashing]

STORE: a store file or a postgresql:// DSN; ``--hashing`` when the store was filled with
``remem --embedder hashing``. Opens the store, embeds one warm-up text (the model's own start is not the store's), then
times the first and the second search of USER (default ``scale-0``, the user ``remem bench
scale`` fills)."""

from __future__ import annotations

import sys
import time

from remem import HashingEmbedder, Memory


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--hashing"]
    store, user = args[0], (args[1] if len(args) > 1 else "scale-0")
    embedder = HashingEmbedder() if "--hashing" in sys.argv else None
    t0 = time.perf_counter()
    with Memory(store, embedder=embedder) as m:
        m.embedder.embed(["warm up the model"])
        t1 = time.perf_counter()
        m.search("what did I say about the trip to Lisbon", user_id=user, limit=10)
        t2 = time.perf_counter()
        m.search("my sister's birthday present", user_id=user, limit=10)
        t3 = time.perf_counter()
        print(f"memories {m.store.scope_size(user)}: open + model {1000 * (t1 - t0):.0f} ms, "
              f"first search {1000 * (t2 - t1):.0f} ms, second {1000 * (t3 - t2):.0f} ms")


if __name__ == "__main__":
    main()

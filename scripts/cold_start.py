"""First search of a large user in a fresh process (docs/benchmarks.md, "Cold start").

    python scripts/cold_start.py STORE [USER]

Opens the store, embeds one warm-up text (the model's own start is not the store's), then
times the first and the second search of USER (default ``scale-0``, the user ``remem bench
scale`` fills)."""

from __future__ import annotations

import sys
import time

from remem import Memory


def main() -> None:
    store, user = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "scale-0")
    t0 = time.perf_counter()
    with Memory(store) as m:
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

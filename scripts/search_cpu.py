"""CPU time per search in one process (docs/benchmarks.md): wall-clock latency on a shared
machine mostly measures the other jobs; the CPU a search burns does not.

    python scripts/search_cpu.py STORE [TURNS]

Fills user ``u`` of STORE with TURNS synthetic turns (default 10,000; skipped when the user
has memories), warms up with 20 searches, then prints the CPU time (``time.process_time``,
every thread of the process) and wall time of 200 synthetic searches."""

from __future__ import annotations

import statistics
import sys
import time

from remem import Memory
from remem.bench.scale import synthetic_queries, synthetic_turns


def main() -> None:
    store = sys.argv[1]
    turns = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    with Memory(store) as m:
        if not m.store.scope_size("u"):
            data = synthetic_turns(turns, 0)
            for i in range(0, len(data), 50):
                m.add(data[i:i + 50], user_id="u")
        queries = synthetic_queries(200, 1)
        for q in queries[:20]:
            m.search(q, user_id="u")
        cpu, wall = [], []
        for q in queries:
            c, w = time.process_time(), time.perf_counter()
            m.search(q, user_id="u")
            cpu.append(1000 * (time.process_time() - c))
            wall.append(1000 * (time.perf_counter() - w))
        for name, xs in (("CPU", cpu), ("wall", wall)):
            xs.sort()
            print(f"{name} ms per search: p50 {xs[len(xs) // 2]:.2f} "
                  f"p95 {xs[int(len(xs) * 0.95)]:.2f} mean {statistics.fmean(xs):.2f}")


if __name__ == "__main__":
    main()

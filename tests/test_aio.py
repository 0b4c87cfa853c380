"""``AsyncMemory``: the event loop keeps running while the engine works, and concurrent
async adds and searches keep every guarantee of ``Memory`` (each add all-or-nothing,
caller ids stored once, scopes separate, nothing lost)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from remem import AsyncMemory, HashingEmbedder, InvalidInput, Memory

from conftest import conversation


class SlowEmbedder(HashingEmbedder):
    """The hashing embedder taking ``delay`` seconds per call (a model on a busy CPU)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay)
        return super().embed(texts)


async def _ticker(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


def test_calls_do_not_block_the_event_loop(tmp_path: Path) -> None:
    async def run() -> tuple[float, float]:
        async with AsyncMemory(tmp_path / "m.db", embedder=SlowEmbedder(0.4)) as m:
            stop, gaps = asyncio.Event(), []  # type: asyncio.Event, list[float]
            tick = asyncio.create_task(_ticker(stop, gaps))
            t = time.perf_counter()
            await m.add(conversation("b"), user_id="ana")
            await m.search("dog", user_id="ana")
            took = time.perf_counter() - t
            stop.set()
            await tick
            return took, max(gaps)

    took, worst_gap = asyncio.run(run())
    assert took >= 0.8 and worst_gap < 0.15, (took, worst_gap)


def test_concurrent_adds_and_searches_keep_the_guarantees(tmp_path: Path) -> None:
    users = [f"user{i}" for i in range(4)]

    async def run(m: AsyncMemory) -> list[Any]:
        jobs: list[Any] = []
        for round_ in range(6):
            for u in users:
                jobs.append(m.add(conversation(f"{u}-{round_}-"), user_id=u, session_id=f"s{round_}"))
                jobs.append(m.add(conversation(f"{u}-dup-"), user_id=u))  # the same ids, 6 times
                jobs.append(m.search("what pet did Ana adopt?", user_id=u, limit=5))
            # an invalid add among them stores nothing
            jobs.append(m.add([{"role": "user", "content": "fine", "id": "bad-1"},
                               {"role": "wizard", "content": "not fine"}], user_id=users[0]))
        return await asyncio.gather(*jobs, return_exceptions=True)

    async def main() -> list[Any]:
        async with AsyncMemory(tmp_path / "m.db", embedder=HashingEmbedder(), workers=6) as m:
            return await run(m)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 6 and all(isinstance(e, InvalidInput) for e in errors)
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as m:
        for u in users:
            turns = [i for i in m.get_all(user_id=u, limit=10_000) if i.type == "turn"]
            ids = sorted(s for i in turns for s in i.source_ids)
            expected = sorted([f"{u}-{r}-{k}" for r in range(6) for k in range(1, 6)]
                              + [f"{u}-dup-{k}" for k in range(1, 6)])
            assert ids == expected  # every turn once: nothing lost, duplicates skipped
            assert not any("fine" == i.text for i in turns)  # the failed add left nothing
            hits = m.search("what pet did Ana adopt?", user_id=u, limit=50)
            assert {h.user_id for h in hits} == {u}
    searches = [r for r in results if isinstance(r, list)]
    assert len(searches) == 24
    assert all(h.user_id in users for s in searches for h in s)
    for r in searches:  # each search saw only its own user
        assert len({h.user_id for h in r}) <= 1


def test_wraps_an_open_memory_without_closing_it(tmp_path: Path) -> None:
    m = Memory(tmp_path / "m.db", embedder=HashingEmbedder())

    async def run() -> None:
        async with AsyncMemory(memory=m) as am:
            await am.add("I like tea", user_id="u")
            assert (await am.count(user_id="u")) == 1

    asyncio.run(run())
    assert m.count(user_id="u") == 1  # still open
    m.close()
    with pytest.raises(InvalidInput):
        AsyncMemory(tmp_path / "x.db", memory=m)
    with pytest.raises(InvalidInput):
        AsyncMemory(memory=m, workers=0)

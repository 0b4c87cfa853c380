"""``Memory.reembed`` moves a store to another embedding model without losing anything,
on both backends (the hashing embedder at two dimensions stands in for two models)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from remem import HashingEmbedder, Memory
from remem.reembed import embed_text


def chat(prefix: str) -> list[dict[str, Any]]:
    lines = [("Ana", "I adopted a border collie called Pimenta last weekend."),
             ("Max", "Lovely! How is she settling in?"),
             ("Ana", "She sleeps on my feet and chews my shoes."),
             ("Max", "By the way, did you move to Lisbon already?"),
             ("Ana", "Yes, I moved to Lisbon in May for the robotics job."),
             ("Max", "How is the new job going?")]
    return [{"role": "user" if n == "Ana" else "assistant", "name": n, "content": t,
             "id": f"{prefix}{i}", "timestamp": f"2024-05-0{i + 1}T10:00:00Z"}
            for i, (n, t) in enumerate(lines)]


def test_reembed_moves_every_memory(open_store: Callable[..., Memory]) -> None:
    old, new = HashingEmbedder(64), HashingEmbedder(128)
    assert old.name != new.name
    mem = open_store(embedder=old)
    mem.add(chat("a"), user_id="ana")
    mem.add(chat("b"), user_id="bob")
    archived = mem.search("border collie", user_id="bob")[0].id
    mem.archive(archived, user_id="bob")
    before = {u: [(r.id, r.text, r.updated_at) for r, _ in mem.store.embed_rows(u, old.name)]
              for u in ("ana", "bob")}
    total = sum(len(v) for v in before.values())
    assert any(r.type == "segment" for r, _ in mem.store.embed_rows("ana", old.name))
    calls: list[tuple[int, int]] = []
    report = mem.reembed(new, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert report.reembedded == report.memories == total and report.users == 2
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert mem.embedder is new
    for user in ("ana", "bob"):
        rows = mem.store.embed_rows(user, new.name)
        # nothing lost, nothing changed but the vectors
        assert [(r.id, r.text, r.updated_at) for r, _ in rows] == before[user]
        assert all(v is not None and v.shape == (128,) for _, v in rows)
        assert all(v is None for _, v in mem.store.embed_rows(user, old.name))
        for rec, vec in rows:
            if rec.type == "segment":  # the mean of its turns' vectors, as add makes it
                turns = [v for r, v in rows if r.type == "turn"
                         and r.episode_ids[0] in rec.episode_ids]
                mean = np.mean(turns, axis=0)
                np.testing.assert_allclose(vec, mean / np.linalg.norm(mean), atol=0.02)
            else:  # what add embeds for it ("Speaker: text", pronouns resolved)
                want = new.embed([embed_text(mem.engine, rec)])[0]
                np.testing.assert_allclose(vec, want, atol=0.02)
    assert mem.get(archived).status == "archived"
    hist = mem.history(archived)
    assert [h.event for h in hist] == ["ADD", "ARCHIVE", "REEMBED"]
    assert hist[-1].detail == {"from": old.name, "to": new.name}
    assert hist[-1].old_text == hist[-1].new_text == mem.get(archived).text
    hits = mem.search("Lisbon robotics job", user_id="ana")
    assert hits and "Lisbon" in hits[0].text
    # a fresh Memory with the new model finds the same; a second run has nothing to do
    again = open_store(embedder=HashingEmbedder(128))
    assert again.search("Lisbon robotics job", user_id="ana")[0].id == hits[0].id
    assert again.reembed(HashingEmbedder(128)).reembedded == 0


def test_reembed_resumes_after_an_interruption(open_store: Callable[..., Memory]) -> None:
    mem = open_store(embedder=HashingEmbedder(64))
    mem.add(chat("a"), user_id="ana")
    n = len(mem.store.embed_rows("ana", "x"))

    class Failing(HashingEmbedder):
        calls = 0

        def embed(self, texts: Any) -> np.ndarray:
            Failing.calls += 1
            if Failing.calls > 1:
                raise RuntimeError("power cut")
            return super().embed(texts)

    failing = Failing(128)
    try:
        mem.reembed(failing, batch_size=2)
    except Exception as exc:
        assert "power cut" in str(exc)
    done = sum(v is not None for _, v in mem.store.embed_rows("ana", failing.name))
    assert done == 2  # the first batch was committed
    report = mem.reembed(HashingEmbedder(128), batch_size=2)
    assert report.reembedded == n - 2 and report.memories == n

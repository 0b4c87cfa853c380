"""Export to JSON lines and import back: lossless, idempotent, validated line by line."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import conversation, turn_items
from remem import HashingEmbedder, ImportFormatError, InvalidInput, Memory, SearchConfig

QUERIES = ["rescue dog Pimenta", "Lisbon robotics", "allergic shellfish", "Max apartment",
           "cello lessons"]


def populate(m: Memory) -> dict[str, Any]:
    """Two users, agents, sessions, metadata, an update and a delete (so history has all
    three events)."""
    a = m.add(conversation("a"), user_id="ana", agent_id="bot", session_id="s1",
              metadata={"topic": "life", "n": 3, "tags": ["x", "y"], "ok": True})
    m.add([{"role": "user", "name": "Ana", "id": "c1", "content": "I take cello lessons on Tuesdays",
            "timestamp": 1_700_000_000}], user_id="ana", session_id="s2")
    m.add("Plain string memory without ids", user_id="ana")
    b = m.add(conversation("b", speaker="Bo"), user_id="bob")
    a_turns = {i.source_ids[0]: i.id for i in turn_items(m, user_id="ana")}
    b_turns = {i.source_ids[0]: i.id for i in turn_items(m, user_id="bob")}
    m.update(a_turns["a1"], "I moved to Porto for a job at a robotics startup.")
    m.delete(a_turns["a5"])
    m.delete(b_turns["b2"])
    return {"a": a, "b": b}


def records(path: Path) -> list[dict[str, Any]]:
    """Export lines without the header (whose exported_at differs by design)."""
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert lines[0]["kind"] == "header"
    return lines[1:]


def snapshot(m: Memory, users: tuple[str, ...] = ("ana", "bob"), *,
             exact_scores: bool = True) -> dict[str, Any]:
    """Everything a caller can read. ``exact_scores=False`` compares which hits come back
    but not their scores (BM25 statistics span the whole store, so a store holding only
    one user's memories scores that user's hits differently)."""
    out: dict[str, Any] = {}
    for u in users:
        items = m.get_all(user_id=u)
        search: dict[str, Any] = {}
        for q in QUERIES:
            hits = m.search(q, user_id=u, limit=20)
            if exact_scores:
                search[q] = [h.to_dict() for h in hits]
            else:
                search[q] = sorted(h.id for h in hits)
        out[u] = {
            "items": [i.to_dict() for i in items],
            "search": search,
            "history": {i.id: m.history(i.id) for i in items},
        }
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    """One populated store shared by the module's tests; they only read it."""
    m = Memory(tmp_path_factory.mktemp("src") / "src.db", embedder=HashingEmbedder())
    populate(m)
    yield m
    m.close()


@pytest.fixture(scope="module")
def exported(source: Memory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exp") / "out" / "export.jsonl"  # parent does not exist yet
    n = source.export(path)
    assert sum(n.values()) == len(records(path))
    assert n["memories"] == sum(r["kind"] == "memory" for r in records(path))
    return path


# -- round trip -------------------------------------------------------------------------
def test_round_trip_is_lossless(source: Memory, exported: Path, tmp_path: Path,
                                open_memory) -> None:  # noqa: ANN001
    target = open_memory(tmp_path / "dst.db")
    stats = target.import_(exported)
    recs = records(exported)
    kinds = [r["kind"] for r in recs]
    assert stats == {"episodes": kinds.count("episode"), "memories": kinds.count("memory"),
                     "history": kinds.count("history"), "skipped": 0}
    assert kinds.count("episode") == 5 + 1 + 1 + 5
    live = len(source.get_all(user_id="ana", type="all")) + len(
        source.get_all(user_id="bob", type="all"))
    assert kinds.count("memory") == live  # the two deleted ones are gone
    assert len(turn_items(target, user_id="ana")) + len(turn_items(target, user_id="bob")) == 12 - 2
    assert snapshot(target) == snapshot(source)
    # deleted memories keep their history across the trip
    a_deleted = next(r for r in recs if r["kind"] == "history" and r["event"] == "DELETE")
    assert [h.event for h in target.history(a_deleted["memory_id"])] == ["ADD", "DELETE"]
    again = tmp_path / "again.jsonl"
    target.export(again)
    assert records(again) == recs


def test_round_trip_keeps_fields(source: Memory, exported: Path, open_memory,  # noqa: ANN001
                                 tmp_path: Path) -> None:
    target = open_memory(tmp_path / "dst.db")
    target.import_(exported)
    cello = target.search("cello lessons", user_id="ana")[0]
    assert cello.source_ids == ("c1",)
    assert cello.speaker == "Ana" and cello.session_id == "s2"
    assert cello.event_time is not None and cello.event_time.timestamp() == 1_700_000_000
    pim = target.search("rescue dog Pimenta", user_id="ana", agent_id="bot",
                        filters={"type": "turn"})[0]
    assert pim.metadata == {"topic": "life", "n": 3, "tags": ["x", "y"], "ok": True}
    assert (pim.agent_id, pim.session_id, pim.source_ids) == ("bot", "s1", ("a3",))
    # caller ids survive, so re-adding the same turns after import is a no-op
    assert target.add(conversation("b", speaker="Bo"), user_id="bob").skipped == 5


def test_import_twice_is_idempotent(exported: Path, open_memory, tmp_path: Path) -> None:  # noqa: ANN001
    target = open_memory(tmp_path / "dst.db")
    first = target.import_(exported)
    before = snapshot(target)
    second = target.import_(exported)
    assert second == {"episodes": 0, "memories": 0, "history": 0,
                      "skipped": first["episodes"] + first["memories"] + first["history"]}
    assert snapshot(target) == before
    out = tmp_path / "after.jsonl"
    target.export(out)
    assert records(out) == records(exported)


def test_import_into_the_source_store_skips_everything(source: Memory, exported: Path) -> None:
    before = snapshot(source)
    stats = source.import_(exported)
    assert stats["episodes"] == stats["memories"] == stats["history"] == 0
    assert stats["skipped"] == len(records(exported))
    assert snapshot(source) == before


def test_export_one_user_only(source: Memory, tmp_path: Path, open_memory) -> None:  # noqa: ANN001
    path = tmp_path / "bob.jsonl"
    n = source.export(path, user_id="bob")
    recs = records(path)
    assert sum(n.values()) == len(recs) > 0
    assert {r["user_id"] for r in recs} == {"bob"}
    target = open_memory(tmp_path / "dst.db")
    target.import_(path)
    assert target.get_all(user_id="ana") == []
    assert snapshot(target, ("bob",), exact_scores=False) == snapshot(
        source, ("bob",), exact_scores=False)


def test_export_unknown_user_writes_only_the_header(source: Memory, tmp_path: Path) -> None:
    path = tmp_path / "none.jsonl"
    assert source.export(path, user_id="nobody") == {"episodes": 0, "memories": 0, "history": 0}
    assert records(path) == []


def test_export_and_import_through_file_objects(source: Memory, open_memory,  # noqa: ANN001
                                                 tmp_path: Path) -> None:
    buf = io.StringIO()
    n = source.export(buf)
    assert sum(n.values()) == len(buf.getvalue().splitlines()) - 1
    target = open_memory(tmp_path / "dst.db")
    buf.seek(0)
    target.import_(buf)
    assert snapshot(target) == snapshot(source)


def test_export_argument_validation(source: Memory, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="directory"):
        source.export(tmp_path)
    with pytest.raises(InvalidInput, match="user_id"):
        source.export(tmp_path / "x.jsonl", user_id="")
    assert not (tmp_path / "x.jsonl").exists()
    assert not list(tmp_path.glob(".remem-export-*"))  # no temp file left behind


# -- malformed files --------------------------------------------------------------------
def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _first(lines: list[str], kind: str) -> int:
    return next(i for i, x in enumerate(lines) if json.loads(x)["kind"] == kind)


def _edit(lines: list[str], idx: int, **changes: Any) -> list[str]:
    obj = json.loads(lines[idx])
    for k, v in changes.items():
        if v is _DROP:
            del obj[k]
        else:
            obj[k] = v
    return lines[:idx] + [json.dumps(obj)] + lines[idx + 1:]


_DROP = object()


def _cases(lines: list[str]) -> dict[str, tuple[list[str], int, str]]:
    """name -> (file lines, 1-based bad line number, expected words in the message)."""
    ep, mem = _first(lines, "episode"), _first(lines, "memory")
    hist = _first(lines, "history")
    return {
        "bad json on line 3": (lines[:2] + ["{not json"] + lines[3:], 3, "not valid JSON"),
        "missing field": (_edit(lines, ep, content=_DROP), ep + 1, "content"),
        "unknown kind": (_edit(lines, 3, kind="banana"), 4, "banana"),
        "wrong type": (_edit(lines, mem, source_ids="a1"), mem + 1, "source_ids"),
        "wrong type int": (_edit(lines, ep, seq="0"), ep + 1, "seq"),
        "bool for number": (_edit(lines, mem, importance=True), mem + 1, "importance"),
        "history wrong type": (_edit(lines, hist, at="yesterday"), hist + 1, "at"),
        "missing header": (lines[1:], 1, "header"),
        "not an object": (lines[:4] + ["[1, 2]"] + lines[4:], 5, "object"),
        "bad role": (_edit(lines, ep, role="wizard"), ep + 1, "role"),
        "empty text": (_edit(lines, mem, text="   "), mem + 1, "empty"),
        "empty user": (_edit(lines, mem, user_id=""), mem + 1, "user_id"),
        "wrong format": (_edit(lines, 0, format="other"), 1, "remem-export"),
        "newer version": (_edit(lines, 0, version=99), 1, "version"),
        "last line bad": (lines + ['{"kind": "episode"}'], len(lines) + 1, "misses"),
    }


CASE_NAMES = ["bad json on line 3", "missing field", "unknown kind", "wrong type", "wrong type int",
              "bool for number", "history wrong type", "missing header", "not an object",
              "bad role", "empty text", "empty user", "wrong format", "newer version",
              "last line bad"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_malformed_line_is_reported_and_nothing_imported(case: str, exported: Path, tmp_path: Path,
                                                         open_memory) -> None:  # noqa: ANN001
    lines, line_no, words = _cases(_lines(exported))[case]
    bad = _write(tmp_path, lines)
    target = open_memory(tmp_path / "dst.db")
    target.add("already here before the import", user_id="ana", metadata={"keep": 1})
    before_file = tmp_path / "before.jsonl"
    target.export(before_file)
    with pytest.raises(ImportFormatError) as ei:
        target.import_(bad)
    assert ei.value.line == line_no
    assert f"line {line_no}" in str(ei.value)
    assert words in str(ei.value)
    assert isinstance(ei.value, InvalidInput)
    after_file = tmp_path / "after.jsonl"
    target.export(after_file)
    assert records(after_file) == records(before_file)
    assert [i.text for i in target.get_all(user_id="ana")] == ["already here before the import"]
    assert target.get_all(user_id="bob") == []


def test_blank_lines_are_ignored(source: Memory, exported: Path, tmp_path: Path,
                                open_memory) -> None:  # noqa: ANN001
    lines = _lines(exported)
    p = _write(tmp_path, [lines[0], "", *lines[1:3], "   ", *lines[3:]])
    target = open_memory(tmp_path / "dst.db")
    assert target.import_(p)["skipped"] == 0
    assert target.get_all(user_id="ana") == source.get_all(user_id="ana")


def test_import_path_errors(tmp_path: Path, mem: Memory) -> None:
    with pytest.raises(InvalidInput, match="directory"):
        mem.import_(tmp_path)
    with pytest.raises(InvalidInput, match="does not exist"):
        mem.import_(tmp_path / "missing.jsonl")
    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes('{"kind": "header", "note": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(InvalidInput, match="UTF-8"):
        mem.import_(latin)


# -- another embedder -------------------------------------------------------------------
def test_import_from_another_embedder_re_embeds(tmp_path: Path, open_memory) -> None:  # noqa: ANN001
    small = open_memory(tmp_path / "small.db", embedder=HashingEmbedder(dim=64))
    small.add(conversation(), user_id="ana")
    path = tmp_path / "small.jsonl"
    small.export(path)
    assert {r["embed_model"] for r in records(path) if r["kind"] == "memory"} == {"hashing-64"}

    dense_only = SearchConfig(weights={"lexical": 0.0, "dense": 1.0}, neighbour_factor=0,
                              segment_credit=0)
    big = open_memory(tmp_path / "big.db", config=dense_only)  # default dim 256
    assert big.embedder.name == "hashing-256"
    big.import_(path)
    hits = big.search("adopted a rescue dog called Pimenta", user_id="ana")
    assert hits, "dense search found nothing: vectors were not re-embedded"
    assert hits[0].source_ids == ("t3",)
    assert hits[0].explain["dense_raw"] > 0.5
    out = tmp_path / "big.jsonl"
    big.export(out)
    mems = [r for r in records(out) if r["kind"] == "memory"]
    assert {r["embed_model"] for r in mems} == {"hashing-256"}
    assert all(r["embedding"] for r in mems)
    # text, ids and times came across untouched
    src = {r["id"]: r for r in records(path) if r["kind"] == "memory"}
    for r in mems:
        assert (r["text"], r["source_ids"], r["event_time"]) == (
            src[r["id"]]["text"], src[r["id"]]["source_ids"], src[r["id"]]["event_time"])


def test_import_of_memories_without_vectors_embeds_them(exported: Path, tmp_path: Path,
                                                        open_memory) -> None:  # noqa: ANN001
    lines = _lines(exported)
    stripped = [json.dumps({**json.loads(x), "embedding": None, "embed_model": None})
                if json.loads(x)["kind"] == "memory" else x for x in lines]
    p = _write(tmp_path, stripped)
    dense_only = SearchConfig(weights={"lexical": 0.0, "dense": 1.0}, neighbour_factor=0,
                              segment_credit=0)
    target = open_memory(tmp_path / "dst.db", config=dense_only)
    target.import_(p)
    hits = target.search("I take cello lessons on Tuesdays", user_id="ana")
    assert hits and hits[0].source_ids == ("c1",)

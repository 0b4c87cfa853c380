"""The field lists and export rows (``remem.store.records``): pure."""

from __future__ import annotations

import json

import numpy as np

from remem.store import records
from remem.types import Episode, MemoryRecord, Scope


def _memory() -> MemoryRecord:
    return MemoryRecord(id="m1", scope=Scope("ana", None, "s1"), text="Ana moved to Porto",
                        type="fact", source_ids=("t1", "t2"), episode_ids=("e1",),
                        created_at=1.0, updated_at=2.0, event_time=3.0, speaker="Ana",
                        keys="porto move", importance=0.7, metadata={"k": [1, "x"]},
                        dates=(("2024-05-01", "2024-05-01", "yesterday"),),
                        entities=("Ana", "Porto"), valid_to=9.0, superseded_by="m2",
                        access_count=4, last_access=5.0)


def test_memory_values_fill_the_field_list_and_read_back() -> None:
    m = _memory()
    values = dict(zip(records.MEMORY_FIELDS, records.memory_values(m, json.dumps)))
    assert len(values) == len(records.MEMORY_FIELDS)
    assert values["agent_id"] == "" and values["episode_id"] == "e1"
    assert values["valid_from"] == 3.0  # defaults to the event time
    row = [values[c.strip()] for c in records.MEMORY_COLS.split(",")]
    assert records.row_to_memory(row, json.loads) == m.__class__(**{**m.__dict__,
                                                                  "valid_from": 3.0})


def test_memory_export_round_trip() -> None:
    m = _memory()
    v = np.linspace(-1, 1, 8, dtype=np.float32)
    r = records.memory_export(m, embedding=records.encode_vector(v), embed_model="x")
    assert records.memory_from_export(json.loads(json.dumps(r))) == m
    assert np.array_equal(records.export_vector(r), v.astype(np.float16).astype(np.float32))
    assert records.export_vector({**r, "embedding": None}) is None


def test_episode_and_history_rows_round_trip() -> None:
    ep = Episode(id="e1", scope=Scope("ana", "bot", None), role="user", content="hi",
                 name="Ana", source_id="t1", timestamp=1.0, seq=0, metadata={"a": 1})
    row = records.episode_values(ep, 2.0, json.dumps)
    exported = records.episode_export(row, json.loads)
    assert exported["agent_id"] == "bot" and exported["session_id"] is None
    assert records.episode_import(exported, json.dumps) == row
    hist = ("m1", "ana", "MERGE", "a", None, 3.0, "api", json.dumps({"into": "m2"}))
    exported = records.history_export(hist, json.loads)
    assert records.history_import(exported, json.dumps) == hist
    entry = records.history_entry(hist, json.loads)
    assert (entry.memory_id, entry.user_id, entry.event, entry.detail) == (
        "m1", "ana", "MERGE", {"into": "m2"})

"""Issue 15, item 1, through the Python API and the CLI: the same limits as the server
(``remem.limits``) on add, update and import; a rejected call changes nothing."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from remem import HashingEmbedder, InvalidInput, Memory
from remem.cli import main


def _deep(n: int) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for _ in range(n):
        d = {"x": d}
    return d


def _export(m: Memory, user: str) -> list[dict[str, Any]]:
    buf = io.StringIO()
    m.export(buf, user_id=user)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_add_refuses_deep_metadata_and_stores_nothing(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as m:
        with pytest.raises(InvalidInput, match="nested deeper"):
            m.add("I like kiwi", user_id="u", metadata=_deep(300))
        assert m.count(user_id="u") == 0
        m.add("I like kiwi", user_id="u", metadata=_deep(20))
        assert m.search("kiwi", user_id="u")[0].metadata == _deep(20)


@pytest.mark.parametrize("change", [
    {"created_at": 1e14}, {"valid_to": -1e14}, {"last_access": float("1e20")},
    {"dates": [["x", "y", "z"]]}, {"metadata": _deep(40)}, {"superseded_by": "theirs"}])
def test_import_refuses_poison_and_changes_nothing(tmp_path: Path, change: dict[str, Any]) -> None:
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as m:
        m.add("I like kiwi", user_id="u")
        m.add("other user's memory", user_id="other")
        lines = _export(m, "u")
        mem = next(x for x in lines if x["kind"] == "memory")
        if "superseded_by" in change:
            change = {"superseded_by": m.get_all(user_id="other")[0].id}
        mem.update(id="m-new", user_id="u2", **change)
        with pytest.raises(InvalidInput):
            m.import_(io.StringIO("\n".join(json.dumps(x) for x in (lines[0], mem))))
        assert m.count(user_id="u2") == 0
        m.search("what happened in June 2024?", user_id="u")


def test_import_refuses_infinite_vectors(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as m:
        m.add("I like kiwi", user_id="u")
        lines = _export(m, "u")
        mem = next(x for x in lines if x["kind"] == "memory")
        vec = np.frombuffer(base64.b64decode(mem["embedding"]), dtype=np.float16).copy()
        vec[3] = np.inf
        mem.update(id="m-inf", user_id="u2", embedding=base64.b64encode(vec.tobytes()).decode())
        with pytest.raises(InvalidInput, match="infinite"):
            m.import_(io.StringIO("\n".join(json.dumps(x) for x in (lines[0], mem))))


def test_cli_import_of_deep_json_is_a_clean_error(tmp_path: Path, capsys: Any) -> None:
    header = json.dumps({"kind": "header", "format": "remem-export", "version": 1,
                         "embed_model": "x", "exported_at": 0})
    f = tmp_path / "deep.jsonl"
    f.write_text(header + "\n" + '{"kind": "memory", "metadata": ' + "[" * 50_000
                 + "]" * 50_000 + "}\n")
    code = main(["--db", str(tmp_path / "m.db"), "--embedder", "hashing", "import", str(f)])
    err = capsys.readouterr().err
    assert code != 0 and "line 2" in err and "Traceback" not in err, err


def test_an_embedder_returning_infinity_is_refused_at_the_seam(tmp_path: Path) -> None:
    from remem import EmbedderError

    class Broken(HashingEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:
            v = super().embed(texts)
            v[0, 0] = np.inf
            return v

    with Memory(tmp_path / "m.db", embedder=Broken()) as m:
        with pytest.raises(EmbedderError, match="infinite"):
            m.add("I like kiwi", user_id="u")
        assert m.count(user_id="u") == 0

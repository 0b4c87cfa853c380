"""docs/openapi.json (for clients in other languages) is the schema a real ``remem serve``
serves: this fails when a route or model changes without regenerating the file
(``python scripts/openapi.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from .kit import Server

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_matches_the_served_schema(tmp_path: Path) -> None:
    server = Server(tmp_path)  # a default `remem serve` (limits appear in the schema)
    try:
        served = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    finally:
        server.stop()
    committed = json.loads(DOC.read_text())
    assert served == committed, (
        "the served OpenAPI schema differs from docs/openapi.json: run "
        "`python scripts/openapi.py` and commit the file")


def test_it_covers_every_memory_route() -> None:
    paths = json.loads(DOC.read_text())["paths"]
    for path in ("/v1/memories", "/v1/search", "/v1/memories/{memory_id}",
                 "/v1/memories/{memory_id}/history", "/v1/export", "/v1/import",
                 "/v1/chat/completions", "/v1/maintain", "/v1/keys"):
        assert path in paths, path

"""Issue 15's hostile suite on PostgreSQL too: schemathesis fuzzes the memory routes of a
real ``remem serve`` on a PostgreSQL store (``tests/server/test_fuzz.py`` does SQLite):
zero 5xx, no traceback in the server log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.kit import LIMIT_FLAGS, Server
from tests.server.test_fuzz import _schemathesis

from .conftest import new_pg_database


def test_fuzz_the_memory_routes_on_postgres(tmp_path: Path, pg_server: Any) -> None:
    server = Server(tmp_path, *LIMIT_FLAGS, db=new_pg_database(pg_server))
    try:
        key = server.create_key("--tenant", "fuzz")["key"]
        result = _schemathesis(server, tmp_path, key, "memory-routes-postgres", 20,
                               "--exclude-path-regex", "^/v1/keys")
        assert result["operations"]["tested"] >= 12
        err = server.stderr()
        assert "internal error" not in err and "Traceback" not in err, err[-5000:]
    finally:
        server.stop()

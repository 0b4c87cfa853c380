"""Schemathesis fuzzes the OpenAPI schema of a real ``remem serve`` (coverage, fuzzing and
stateful phases, bounded by examples and time): zero 5xx responses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .kit import LIMIT_FLAGS, Server, env

RUN = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


def _schemathesis(server: Server, tmp: Path, key: str, name: str, max_time: int,
                  *filters: str) -> dict[str, Any]:
    report = tmp / f"{name}.json"
    out = subprocess.run(
        [sys.executable, "-c", RUN, "run", f"{server.url}/openapi.json",
         "-H", f"Authorization: Bearer {key}", "--checks", "not_a_server_error",
         "--max-examples", "100", "--max-time", str(max_time), "--seed", "4711",
         "--request-timeout", "30", "--report", "json", "--report-json-path", str(report),
         *filters],
        capture_output=True, text=True, env=env(tmp), cwd=tmp, timeout=max_time + 120)
    assert report.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    result: dict[str, Any] = json.loads(report.read_text())
    cases = result["test_cases"]
    print(f"\nschemathesis {name}: {cases['generated']} test cases over "
          f"{result['operations']['tested']} operations in {result['running_time']:.0f}s; "
          f"failures {result['failures']}, errors {result['errors']}")
    assert result["failures"] == [] and result["errors"] == [], out.stdout[-5000:]
    assert result["exit_code"] == 0, out.stdout[-5000:]
    return result


def test_fuzz_the_openapi_schema_without_a_single_5xx(tmp_path: Path) -> None:
    # its own server: the admin pass may revoke any key it can list
    server = Server(tmp_path, *LIMIT_FLAGS)
    try:
        tenant_key = server.create_key("--tenant", "fuzz")["key"]
        admin_key = server.create_key("--admin")["key"]
        memories = _schemathesis(server, tmp_path, tenant_key, "memory-routes", 30,
                                 "--exclude-path-regex", "^/v1/keys")
        assert memories["operations"]["tested"] >= 12
        assert memories["test_cases"]["generated"] >= 1000
        keys = _schemathesis(server, tmp_path, admin_key, "key-routes", 8,
                             "--include-path-regex", "^/v1/keys")
        assert keys["operations"]["tested"] == 3
        err = server.stderr()
        assert "internal error" not in err and "Traceback" not in err, err[-5000:]
    finally:
        server.stop()

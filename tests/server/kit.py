"""Helpers for the server tests: a real ``remem serve`` process on 127.0.0.1 (hashing
embedder, temp store), the ``remem`` CLI as a subprocess, and the error-shape check."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def env(tmp: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["REMEM_PATH"] = str(tmp / "default-should-not-be-used.db")
    e.pop("PYTHONWARNINGS", None)
    return e


def remem(tmp: Path, db: Path | str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``remem`` CLI on ``db`` (hashing embedder) as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "remem.cli", "--db", str(db), "--embedder", "hashing", *args],
        input=stdin, capture_output=True, text=True, env=env(tmp), timeout=60, cwd=tmp)


class Server:
    """``remem serve`` in a subprocess; ``url``, ``db``, and ``client(key)``. ``db`` is
    ``tmp/server.db`` unless given (a file path or a ``postgresql://`` DSN)."""

    def __init__(self, tmp: Path, *flags: str, db: Path | str | None = None) -> None:
        self.tmp = tmp
        self.db: Path | str = tmp / "server.db" if db is None else db
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.err_path = tmp / f"serve-{self.port}.err"
        self._err = self.err_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "remem.cli", "--db", str(self.db), "--embedder", "hashing",
             "serve", "--host", HOST, "--port", str(self.port), *flags],
            stdout=subprocess.DEVNULL, stderr=self._err, env=env(tmp), cwd=tmp)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"remem serve exited: {self.stderr()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"remem serve not ready after {timeout}s: {self.stderr()}")

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.err_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._err.close()

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return remem(self.tmp, self.db, *args, stdin=stdin)

    def create_key(self, *args: str) -> dict[str, Any]:
        out = self.cli("keys", "create", *args)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kw)


def assert_error(r: httpx.Response, status: int, type_: str | None = None) -> dict[str, Any]:
    """The response is ``status`` with the error shape ``{"error": {"type", "message"}}``."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if type_ is not None:
        assert body["error"]["type"] == type_, body
    return body["error"]


# the shared server: keys on, small limits so the limit tests are cheap
LIMIT_FLAGS = ("--max-body-bytes", "65536", "--max-import-bytes", "1048576",
               "--max-messages", "20", "--max-limit", "200")


@contextmanager
def serving(path: Path, *flags: str) -> Iterator[Server]:
    """A ``remem serve`` for the block; afterwards its log must hold no internal error."""
    s = Server(path, *flags)
    try:
        yield s
    finally:
        s.stop()
    err = s.stderr()
    assert "internal error" not in err and "Traceback" not in err, err[-5000:]

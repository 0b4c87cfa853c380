"""Export to and import from the JSON-lines format (``remem._jsonl``), for ``Memory``."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np

from . import _jsonl
from .ingest.normalise import check_id
from .errors import InvalidInput


def export(mem: Any, path: str | os.PathLike[str] | IO[str], user_id: str | None) -> int:
    """Write episodes, memories (with vectors) and history as JSON lines. Returns the
    number of records. A path is written atomically (temp file + rename)."""
    if user_id is not None:
        check_id(user_id, "user_id")
    if hasattr(path, "write"):
        return _write_export(mem, path, user_id)  # type: ignore[arg-type]
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInput(f"export path must be a path or a writable file, got {type(path).__name__}")
    target = Path(path)  # type: ignore[arg-type]
    if target.is_dir():
        raise InvalidInput(f"export path {target} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".remem-export-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            n = _write_export(mem, fh, user_id)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def _write_export(mem: Any, fh: IO[str], user_id: str | None) -> int:
    fh.write(json.dumps(_jsonl.header(mem.embedder.name, time.time())) + "\n")
    n = 0
    for rec in mem.store.export_records(user_id):
        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        n += 1
    return n


def import_(mem: Any, path: str | os.PathLike[str] | IO[str],
            progress: Callable[[int, int], None] | None) -> dict[str, int]:
    """Read a file written by ``export``. Every line is validated first; one bad line
    (reported with its number) imports nothing. Existing ids are skipped. Memories
    embedded by another model are re-embedded with this one (``progress(done, total)``
    is called as they are)."""
    if hasattr(path, "read"):
        records = _jsonl.parse_lines(path)  # type: ignore[arg-type]
    elif not isinstance(path, (str, os.PathLike)):
        raise InvalidInput(f"import path must be a path or a readable file, got {type(path).__name__}")
    else:
        p = Path(path)  # type: ignore[arg-type]
        if p.is_dir():
            raise InvalidInput(f"import path {p} is a directory")
        if not p.exists():
            raise InvalidInput(f"import file {p} does not exist")
        try:
            with p.open(encoding="utf-8") as fh:
                records = _jsonl.parse_lines(fh)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"import file {p} is not UTF-8 text: {exc}") from None
    dim_bytes = mem.embedder.dim * 2  # float16
    stale = [r for r in records if r["kind"] == "memory"
             and (r["embed_model"] != mem.embedder.name or not r["embedding"]
                  or len(base64.b64decode(r["embedding"])) != dim_bytes)]
    for start in range(0, len(stale), 256):
        batch = stale[start : start + 256]
        vecs = mem._embed([f"{r['speaker']}: {r['text']}" if r["speaker"] else r["text"]
                            for r in batch])
        for r, v in zip(batch, vecs):
            r["embedding"] = base64.b64encode(v.astype(np.float16).tobytes()).decode()
            r["embed_model"] = mem.embedder.name
        if progress:
            progress(start + len(batch), len(stale))
    return mem.store.import_records(records)

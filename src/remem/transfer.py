"""Export to and import from remem's JSON-lines format: the record schemas and their
validation (pure), and ``export`` / ``import_``, which ``Memory`` delegates to."""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import numpy as np

from ._engine import Engine
from .errors import ImportFormatError, InvalidInput
from .ingest.normalise import check_id
from .limits import (MAX_JSON_DEPTH, check_dates, check_epoch, check_metadata, has_nul,
                     json_depth)
from .types import ROLES

FORMAT = "remem-export"
VERSION = 1

_STR, _OPT_STR, _NUM, _OPT_NUM, _INT = "str", "str?", "num", "num?", "int"
_LIST, _DICT, _DATES = "list[str]", "dict", "list[[str, str, str]]"

SCHEMAS: dict[str, dict[str, str]] = {
    "episode": {"id": _STR, "user_id": _STR, "agent_id": _OPT_STR, "session_id": _OPT_STR,
                "source_id": _OPT_STR, "role": _STR, "name": _OPT_STR, "content": _STR,
                "timestamp": _NUM, "seq": _INT, "metadata": _DICT, "created_at": _NUM},
    "memory": {"id": _STR, "user_id": _STR, "agent_id": _OPT_STR, "session_id": _OPT_STR,
               "text": _STR, "keys": _STR, "type": _STR, "speaker": _OPT_STR,
               "source_ids": _LIST, "episode_ids": _LIST, "created_at": _NUM,
               "updated_at": _NUM, "event_time": _OPT_NUM, "importance": _NUM,
               "metadata": _DICT, "status": _STR, "dates": _DATES, "entities": _LIST, "valid_from": _OPT_NUM, "valid_to": _OPT_NUM,
               "access_count": _INT, "last_access": _OPT_NUM, "embedding": _OPT_STR,
               "embed_model": _OPT_STR},
    "history": {"memory_id": _STR, "user_id": _STR, "event": _STR, "old_text": _OPT_STR,
                "new_text": _OPT_STR, "at": _NUM, "actor": _STR, "detail": _DICT},
}
# fields added after version 1 was first written: files without them still import
OPTIONAL: dict[str, dict[str, Any]] = {"memory": {"superseded_by": None},
                                       "history": {"detail": {}}}
SCHEMAS["memory"]["superseded_by"] = _OPT_STR
# the fields that are times (epoch seconds a date can be made of)
_TIMES = {"timestamp", "created_at", "updated_at", "event_time", "valid_from", "valid_to",
          "last_access", "at"}


def _check(value: Any, kind: str) -> bool:
    if kind.endswith("?") and value is None:
        return True
    base = kind.rstrip("?")
    if base == _STR:
        return isinstance(value, str)
    if base == _NUM:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return abs(value) < 10**15 if isinstance(value, int) else (
            math.isfinite(value) and abs(value) < 1e15)
    if base == _INT:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if base == _DATES:
        return isinstance(value, list) and all(
            isinstance(d, list) and len(d) == 3 and all(isinstance(x, str) for x in d)
            for d in value)
    if base == _LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict)


def _encodable(value: Any) -> bool:
    """No lone surrogates anywhere in the record (they cannot be stored as UTF-8)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def header(embed_model: str, exported_at: float) -> dict[str, Any]:
    return {"kind": "header", "format": FORMAT, "version": VERSION,
            "embed_model": embed_model, "exported_at": exported_at}


def parse_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Parse and validate every line; raise ``ImportFormatError`` with the first bad line's
    number. Returns the records (without the header)."""
    records: list[dict[str, Any]] = []
    seen_header = False
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"not valid JSON ({exc.msg})", line=n) from None
        except RecursionError:
            raise ImportFormatError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                                    line=n) from None
        if json_depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise ImportFormatError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", line=n)
        if not isinstance(obj, dict):
            raise ImportFormatError("expected a JSON object", line=n)
        kind = obj.get("kind")
        if kind == "header":
            if obj.get("format") != FORMAT:
                raise ImportFormatError(f"not a {FORMAT} file", line=n)
            if not isinstance(obj.get("version"), int) or obj["version"] > VERSION:
                raise ImportFormatError(
                    f"export version {obj.get('version')!r} is not supported (max {VERSION})", line=n)
            seen_header = True
            continue
        if kind not in SCHEMAS:
            raise ImportFormatError(f"unknown record kind {kind!r}", line=n)
        schema = SCHEMAS[kind]
        for key, default in OPTIONAL.get(kind, {}).items():
            obj.setdefault(key, default)
        missing = [k for k in schema if k not in obj]
        if missing:
            raise ImportFormatError(f"{kind} record misses field(s): {', '.join(missing)}", line=n)
        for key, typ in schema.items():
            if not _check(obj[key], typ):
                raise ImportFormatError(f"{kind} field {key!r} must be {typ}", line=n)
        try:
            check_id(obj["user_id"], "user_id")
            if kind == "episode" and obj["role"] not in ROLES:
                raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
            if kind != "history" and not obj.get("content", obj.get("text", "")).strip():
                raise InvalidInput("text must not be empty")
            for key, typ in schema.items():  # the limits every door checks
                if key in _TIMES:
                    check_epoch(obj[key], f"{kind} field {key!r}", optional=typ == _OPT_NUM)
            check_metadata(obj["detail" if kind == "history" else "metadata"],
                           f"{kind} field {'detail' if kind == 'history' else 'metadata'!r}")
            if kind == "memory":
                check_dates(obj["dates"], "memory field 'dates'")
        except InvalidInput as exc:
            raise ImportFormatError(str(exc), line=n) from None
        if not _encodable(obj):
            raise ImportFormatError(f"{kind} record has text that is not valid Unicode", line=n)
        if has_nul(obj):  # no store keeps it (PostgreSQL text and jsonb cannot)
            raise ImportFormatError(f"{kind} record has a NUL character", line=n)
        if kind == "memory" and obj["embedding"] is not None:
            try:
                raw = base64.b64decode(obj["embedding"].encode("ascii"), validate=True)
            except (ValueError, UnicodeEncodeError):
                raise ImportFormatError("memory field 'embedding' is not base64", line=n) from None
            if not raw or len(raw) % 2:
                raise ImportFormatError("memory field 'embedding' is not a float16 vector", line=n)
            if not np.isfinite(np.frombuffer(raw, dtype=np.float16)).all():
                raise ImportFormatError("memory field 'embedding' holds NaN or infinite values",
                                        line=n)
        records.append({k: obj[k] for k in ("kind", *schema)})
    if records and not seen_header:
        raise ImportFormatError(f"missing header line (kind: header, format: {FORMAT})", line=1)
    return records


def _check_successors(engine: Engine, records: list[dict[str, Any]]) -> None:
    """A memory's ``superseded_by`` must name a memory of the same user (in the file or
    already stored): a reference outside the user's scope is refused."""
    users = {r["id"]: r["user_id"] for r in records if r["kind"] == "memory"}
    for n, r in enumerate((r for r in records if r["kind"] == "memory"), start=1):
        ref = r["superseded_by"]
        if ref is None:
            continue
        owner = users.get(ref)
        if owner is None:
            stored = engine.store.get(ref)
            owner = stored.scope.user_id if stored is not None else r["user_id"]
        if owner != r["user_id"]:
            raise InvalidInput(f"memory {r['id']!r} (memory record {n}) is superseded_by "
                               f"{ref!r}, which is not a memory of the same user")


# -- export / import -------------------------------------------------------------
def export(engine: Engine, path: str | os.PathLike[str] | IO[str],
           user_id: str | None) -> dict[str, int]:
    """Write episodes, memories (with vectors) and history as JSON lines. Returns how
    many of each were written (``episodes``, ``memories``, ``history``: the keys
    ``import_`` reports). A path is written atomically (temp file + rename)."""
    if user_id is not None:
        check_id(user_id, "user_id")
    if hasattr(path, "write"):
        return _write_export(engine, path, user_id)  # type: ignore[arg-type]
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInput(f"export path must be a path or a writable file, got {type(path).__name__}")
    target = Path(path)  # type: ignore[arg-type]
    if target.is_dir():
        raise InvalidInput(f"export path {target} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".remem-export-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            n = _write_export(engine, fh, user_id)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def _write_export(engine: Engine, fh: IO[str], user_id: str | None) -> dict[str, int]:
    fh.write(json.dumps(header(engine.embedder.name, time.time())) + "\n")
    counts = dict.fromkeys(EXPORT_KINDS.values(), 0)
    for rec in engine.store.export_records(user_id):
        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        counts[EXPORT_KINDS[rec["kind"]]] += 1
    return counts


#: export record kind -> the key ``export`` (and ``import_``) count it under
EXPORT_KINDS = {"episode": "episodes", "memory": "memories", "history": "history"}


def import_(engine: Engine, path: str | os.PathLike[str] | IO[str],
            progress: Callable[[int, int], None] | None) -> dict[str, int]:
    """Read a file written by ``export``. Every line is validated first; one bad line
    (reported with its number) imports nothing. Existing ids are skipped. Memories
    embedded by another model are re-embedded with this one (``progress(done, total)``
    is called as they are)."""
    if hasattr(path, "read"):
        records = parse_lines(path)  # type: ignore[arg-type]
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
                records = parse_lines(fh)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"import file {p} is not UTF-8 text: {exc}") from None
    _check_successors(engine, records)
    dim_bytes = engine.embedder.dim * 2  # float16
    stale = [r for r in records if r["kind"] == "memory"
             and (r["embed_model"] != engine.embedder.name or not r["embedding"]
                  or len(base64.b64decode(r["embedding"])) != dim_bytes)]
    for start in range(0, len(stale), 256):
        batch = stale[start : start + 256]
        vecs = engine.embed([f"{r['speaker']}: {r['text']}" if r["speaker"] else r["text"]
                             for r in batch])
        for r, v in zip(batch, vecs):
            r["embedding"] = base64.b64encode(v.astype(np.float16).tobytes()).decode()
            r["embed_model"] = engine.embedder.name
        if progress:
            progress(start + len(batch), len(stale))
    return engine.store.import_records(records)

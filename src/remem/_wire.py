"""Values to and from the REST API's JSON, for ``remem.Client``: the server's answers
as remem's types (``Hit``, ``MemoryItem``, ...), its error answers as the ``RememError``
tree, and the caller's arguments as request bodies."""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import httpx

from .errors import (EmbedderError, ImportFormatError, InvalidInput, LLMError, NotFound,
                     RemoteError, StoreError, Unauthorized)
from .types import AddResult, HistoryEntry, Hit, MemoryItem, SearchResult


# -- values from the wire -------------------------------------------------------------
def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _hit(d: Mapping[str, Any]) -> Hit:
    return Hit(id=d["id"], text=d["text"], score=d["score"], source_ids=tuple(d["source_ids"]),
               type=d["type"], created_at=_dt(d["created_at"]),  # type: ignore[arg-type]
               event_time=_dt(d["event_time"]), metadata=d["metadata"], speaker=d["speaker"],
               user_id=d["user_id"], agent_id=d["agent_id"], session_id=d["session_id"],
               explain=d["explain"], dates=tuple(d["dates"]))


def _item(d: Mapping[str, Any]) -> MemoryItem:
    return MemoryItem(d["id"], d["text"], d["type"], tuple(d["source_ids"]), d["user_id"],
                      d["agent_id"], d["session_id"], d["speaker"],
                      _dt(d["created_at"]), _dt(d["updated_at"]),  # type: ignore[arg-type]
                      _dt(d["event_time"]), d["metadata"], d.get("status", "active"),
                      _dt(d.get("valid_from")), _dt(d.get("valid_to")), d.get("superseded_by"))


def _history(d: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(d["memory_id"], d["event"], d["old_text"], d["new_text"],
                        _dt(d["at"]), d.get("actor", "api"),  # type: ignore[arg-type]
                        d.get("user_id") or "", d.get("detail") or {})


def _add_result(r: httpx.Response) -> AddResult:
    d = r.json()
    return AddResult(tuple(d["episode_ids"]), tuple(d["memory_ids"]), d["skipped"],
                     tuple(d.get("fact_ids") or ()), d.get("llm_error"))


def _search_result(r: httpx.Response) -> SearchResult:
    d = r.json()
    return SearchResult([_hit(h) for h in d["hits"]], d["context"], d["budget_tokens"])


def _one_item(r: httpx.Response) -> MemoryItem:
    return _item(r.json())


def _json(r: httpx.Response) -> Any:
    return r.json()


def _nothing(r: httpx.Response) -> None:
    return None


# -- values to the wire ---------------------------------------------------------------
def _time(value: Any) -> Any:
    """datetimes and dates as ISO-8601 (naive taken as UTC, like ``Memory``); the server
    validates everything else."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _messages(messages: Any) -> Any:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        return messages
    out = []
    for m in messages:
        if isinstance(m, Mapping) and "timestamp" in m:
            m = {**m, "timestamp": _time(m["timestamp"])}
        out.append(dict(m) if isinstance(m, Mapping) else m)
    return out


def _params(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _body(**kw: Any) -> bytes:
    """A JSON body; what JSON cannot carry is the caller's mistake (``InvalidInput``),
    found before anything is sent."""
    try:
        return json.dumps({k: v for k, v in kw.items() if v is not None},
                          allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("text must be valid Unicode (no lone surrogates)") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"arguments must be JSON-serialisable: {exc}") from None


_IMPORT_LINE = re.compile(r"^line (\d+): (.*)$", re.S)


def _error(r: httpx.Response) -> Exception:
    """The ``RememError`` for an error answer (``{"error": {"type", "message"}}``)."""
    try:
        err = r.json()["error"]
        kind, message = str(err["type"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        kind, message = "error", f"HTTP {r.status_code}: {r.text[:200]}"
    s = r.status_code
    if kind == "import_format" and (m := _IMPORT_LINE.match(message)):
        return ImportFormatError(m.group(2), line=int(m.group(1)))
    if s in (413, 422):
        return InvalidInput(message)
    if s == 404 and kind == "not_found":
        return NotFound(message)
    if s in (401, 403):
        return Unauthorized(message, status=s, type=kind)
    if kind == "embedder_unavailable":
        return EmbedderError(message)
    if s == 503 and kind in ("store_unavailable", "unavailable"):
        return StoreError(message)
    if kind.startswith("upstream"):
        return LLMError(message)
    return RemoteError(message, status=s, type=kind)


def _retry_after(r: httpx.Response | None) -> float | None:
    value = r.headers.get("Retry-After") if r is not None else None
    try:
        return min(float(value), 30.0) if value is not None else None
    except ValueError:
        return None


_SENT = {"dedupe", "summaries", "profiles", "forget"}
_FORGET_SENT = {"half_life_days", "threshold", "min_age_days", "hard_delete"}


def _maintain_config(config: Any) -> dict[str, Any]:
    """The parts of a ``MaintainConfig`` the server takes; any other field changed from
    its default is refused rather than silently dropped."""
    from dataclasses import asdict

    from .config import ForgetPolicy, MaintainConfig

    c, default = asdict(config), asdict(MaintainConfig())
    odd = [k for k in c if k not in _SENT and c[k] != default[k]]
    forget = c["forget"]
    if forget is not None:
        fdefault = asdict(ForgetPolicy())
        odd += [f"forget.{k}" for k in forget if k not in _FORGET_SENT and forget[k] != fdefault[k]]
        forget = {k: forget[k] for k in _FORGET_SENT}
    if odd:
        raise InvalidInput(f"the server's maintain takes no {', '.join(odd)} (run it embedded)")
    return {"dedupe": c["dedupe"], "summaries": c["summaries"], "profiles": c["profiles"],
            "forget": forget}


def _id(memory_id: Any) -> str:
    if not isinstance(memory_id, str) or not memory_id.strip():
        raise InvalidInput(f"memory id must be a non-empty string, got {memory_id!r}")
    return quote(memory_id, safe="")


def _int(value: Any, what: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput(f"{what} must be an int >= {low}")


def _write_export(path: Any, text: str) -> dict[str, int]:
    if isinstance(path, (str, os.PathLike)):
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    else:
        path.write(text)
    counts = {"episodes": 0, "memories": 0, "history": 0}  # as Memory.export
    kinds = {"episode": "episodes", "memory": "memories", "history": "history"}
    for line in text.split("\n"):
        kind = json.loads(line).get("kind") if line.strip() else None
        if kind in kinds:
            counts[kinds[kind]] += 1
    return counts

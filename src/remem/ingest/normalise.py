"""Normalise what callers hand to ``add`` into ``Turn`` values. Pure functions."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Any, Mapping, Sequence

from ..errors import InvalidInput
from ..limits import MAX_TIME, MIN_TIME
from ..types import ROLES, Turn

MAX_CONTENT_CHARS = 100_000
MAX_ID_CHARS = 256


def check_id(value: Any, what: str, *, required: bool = True) -> str | None:
    """Validate a scope or caller id: a non-empty string without control characters."""
    if value is None:
        if required:
            raise InvalidInput(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_ID_CHARS:
        raise InvalidInput(f"{what} is longer than {MAX_ID_CHARS} characters")
    _check_encodable(value, what)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(f"{what} must not contain control characters")
    return value


def check_text(value: Any, what: str) -> str:
    """Validate free text: a non-blank string within the size cap, no NUL bytes."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(f"{what} must not be empty")
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters")
    if len(value) > MAX_CONTENT_CHARS:
        raise InvalidInput(f"{what} is longer than {MAX_CONTENT_CHARS} characters")
    _check_encodable(value, what)
    return value


def _check_encodable(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} is not valid Unicode text (lone surrogate at {exc.start})") from None


def parse_time(value: Any, what: str = "timestamp") -> float | None:
    """Accept datetime, date, ISO-8601 string or epoch seconds; return epoch seconds (UTC).

    Naive datetimes are taken as UTC. ``None`` stays ``None``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a datetime, ISO-8601 string or epoch seconds")
    if isinstance(value, (int, float)):
        if (isinstance(value, float) and not math.isfinite(value)) or not (
                MIN_TIME <= value <= MAX_TIME):
            raise InvalidInput(f"{what} is out of range: {value!r}")
        return float(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        try:
            epoch = dt.timestamp()
            datetime.fromtimestamp(epoch, tz=timezone.utc)  # representable back?
        except (ValueError, OverflowError, OSError):
            raise InvalidInput(f"{what} is out of range: {value!r}") from None
        return epoch
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"{what} is not an ISO-8601 date/time: {value!r}") from None
        return parse_time(dt, what)
    raise InvalidInput(
        f"{what} must be a datetime, ISO-8601 string or epoch seconds, got {type(value).__name__}"
    )


def normalise_messages(messages: Any, default_time: float | None = None) -> list[Turn]:
    """Turn a string or a list of OpenAI-style message dicts into ``Turn`` values.

    Raises ``InvalidInput`` naming the offending message on any problem.
    """
    if isinstance(messages, str):
        return [Turn(role="user", content=check_text(messages, "message"), timestamp=default_time)]
    if isinstance(messages, Mapping):
        messages = [messages]
    if not isinstance(messages, Sequence) or isinstance(messages, (bytes, bytearray)):
        raise InvalidInput(
            f"messages must be a string or a list of message dicts, got {type(messages).__name__}"
        )
    if not messages:
        raise InvalidInput("messages must not be empty")
    turns: list[Turn] = []
    seen_ids: set[str] = set()
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if isinstance(msg, str):
            turns.append(Turn("user", check_text(msg, where), timestamp=default_time))
            continue
        if not isinstance(msg, Mapping):
            raise InvalidInput(f"{where} must be a dict or string, got {type(msg).__name__}")
        unknown = set(msg) - {"role", "content", "name", "id", "timestamp"}
        if unknown:
            raise InvalidInput(f"{where} has unknown field(s): {', '.join(sorted(map(str, unknown)))}")
        role = msg.get("role", "user")
        if role not in ROLES:
            raise InvalidInput(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
        content = check_text(msg.get("content"), f"{where}.content")
        name = check_id(msg.get("name"), f"{where}.name", required=False)
        source_id = msg.get("id")
        if isinstance(source_id, int) and not isinstance(source_id, bool):
            source_id = str(source_id)
        source_id = check_id(source_id, f"{where}.id", required=False)
        if source_id is not None:
            if source_id in seen_ids:
                raise InvalidInput(f"{where}.id {source_id!r} appears twice in one add")
            seen_ids.add(source_id)
        ts = parse_time(msg.get("timestamp"), f"{where}.timestamp")
        turns.append(Turn(role, content, name, source_id, ts if ts is not None else default_time))
    return turns

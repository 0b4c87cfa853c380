"""The LLM seam: one required method, ``complete``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class Completion:
    """One chat completion: the text and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    model: str = ""


@runtime_checkable
class LLM(Protocol):
    """Anything that turns chat messages into a completion."""

    name: str

    def complete(self, messages: Sequence[Mapping[str, Any]], *, json: bool = False,
                 max_tokens: int | None = None) -> Completion:
        """Return the assistant's reply to ``messages``. With ``json=True`` the reply is
        asked to be a JSON object (callers still parse it tolerantly)."""
        ...


class Usage:
    """Thread-safe call and token accounting, kept by every client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.failures = 0
        self.retries = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.seconds = 0.0

    def record(self, c: Completion) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += c.prompt_tokens
            self.completion_tokens += c.completion_tokens
            self.seconds += c.seconds

    def failed(self) -> None:
        with self._lock:
            self.failures += 1

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": self.calls, "failures": self.failures, "retries": self.retries,
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens,
                    "seconds": round(self.seconds, 3)}

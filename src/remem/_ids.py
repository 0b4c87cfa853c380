"""Memory and episode ids: 32 hex characters that sort in creation order (like UUIDv7),
so ties in ranking break the same way on every run."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, sequence within it


def new_id() -> str:
    """48-bit millisecond time, 16-bit sequence, 64 random bits; monotonic per process."""
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms = _last[0]
            _last[1] += 1
            if _last[1] > 0xFFFF:
                ms += 1
                _last[1] = 0
        else:
            _last[1] = 0
        _last[0] = ms
        seq = _last[1]
    return f"{ms:012x}{seq:04x}{os.urandom(8).hex()}"

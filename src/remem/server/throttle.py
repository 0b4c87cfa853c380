"""Per-tenant throttles: one tenant cannot take the server from the others.

``Throttle`` admits a tenant's request when the tenant has fewer than ``concurrency``
requests in flight and a token in its bucket (``rate`` per second, up to ``burst``);
otherwise it answers 429 ``rate_limited`` with ``Retry-After``. It never waits: a
refused request costs nothing. The chat proxy has its own (its upstream calls are slow);
``--rate-limit`` adds one in front of every tenant route."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Iterator

from .errors import ApiError


class Throttle:
    def __init__(self, what: str, *, concurrency: int | None = None, rate: float | None = None,
                 burst: int | None = None) -> None:
        self.what = what
        self.concurrency = concurrency or None
        self.rate = rate or None
        self.burst = float(burst or (max(1.0, 2 * rate) if rate else 1))
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, at)
        self.refused = 0

    def _refuse(self, why: str, retry_after: float) -> ApiError:
        self.refused += 1
        return ApiError(429, "rate_limited", f"too many {self.what + ' ' if self.what else ''}"
                        f"requests for this tenant "
                        f"({why}); retry after {math.ceil(retry_after)} s",
                        {"Retry-After": str(max(1, math.ceil(retry_after)))})

    def take(self, tenant: str | None) -> None:
        """One token of ``tenant``'s bucket, or 429."""
        if self.rate is None or tenant is None:
            return
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(tenant, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1:
                self._buckets[tenant] = (tokens, now)
                raise self._refuse(f"more than {self.rate:g} per second",
                                   (1 - tokens) / self.rate)
            self._buckets[tenant] = (tokens - 1, now)
            if len(self._buckets) > 100_000:  # forget idle tenants (their buckets are full)
                self._buckets = {t: v for t, v in self._buckets.items() if now - v[1] < 60}

    @contextlib.contextmanager
    def slot(self, tenant: str | None) -> Iterator[None]:
        """A token and one of the tenant's ``concurrency`` slots while the body runs."""
        self.take(tenant)
        if self.concurrency is None or tenant is None:
            yield
            return
        with self._lock:
            n = self._inflight.get(tenant, 0)
            if n >= self.concurrency:
                raise self._refuse(f"{self.concurrency} in flight", 1)
            self._inflight[tenant] = n + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._inflight[tenant] - 1
                if left:
                    self._inflight[tenant] = left
                else:
                    del self._inflight[tenant]

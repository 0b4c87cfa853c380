"""Server settings: one frozen dataclass, filled from CLI flags by ``commands.py``.

No framework imports here; building a ``Settings`` is free."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import InvalidInput

MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """How ``remem serve`` behaves. Every limit is enforced before the engine is called;
    a violation is a 4xx JSON error ``{"error": {"type", "message"}}``."""

    host: str = "127.0.0.1"
    port: int = 8420
    auth: bool = True  # False: --no-auth, one implicit tenant, user ids used as given
    max_body_bytes: int = 1 * MiB  # request body cap for every route but import
    max_import_bytes: int = 32 * MiB  # request body cap for POST /v1/import
    max_messages: int = 500  # messages per add
    max_limit: int = 1000  # largest `limit` for search and list
    mcp: bool = True  # mount the MCP streamable-HTTP transport at /mcp
    mcp_user: str = "default"  # MCP scope when the client sends no X-Remem-User header
    log_level: str = "warning"
    # the chat proxy at POST /v1/chat/completions (off while upstream_url is None)
    upstream_url: str | None = None  # an OpenAI-compatible base URL, e.g. http://localhost:11434/v1
    upstream_model: str | None = None  # the model when a request names none
    upstream_key: str | None = field(default=None, repr=False)  # sent upstream as a Bearer token
    upstream_timeout: float = 60.0  # seconds per upstream attempt
    upstream_retries: int = 2  # extra attempts after connection errors, timeouts, 429 and 5xx
    proxy_budget_tokens: int = 1000  # memories injected per request, in tokens
    proxy_workers: int = 32  # threads for upstream calls (their own pool, not the routes')
    proxy_concurrency: int = 8  # proxy calls in flight per tenant (429 past it)
    proxy_rate: float = 10.0  # proxy calls per second per tenant (burst 2x; 429 past it)
    rate_limit: float = 0.0  # requests per second per tenant on every route (0: off)
    tenant_concurrency: int = 32  # a tenant's requests in flight (8 of 40 threads stay free)
    # background maintenance (upkeep.py): every this many seconds after the last run ends
    maintain_every: float | None = None  # None or 0: off
    maintain_forget_days: float | None = None  # forget with this half-life (None: never)

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_import_bytes", "max_messages", "max_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a positive int, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise InvalidInput(f"port must be 0..65535, got {self.port}")
        if self.max_limit > 100_000:
            raise InvalidInput("max_limit must be at most 100000")
        self._check_proxy()
        self._check_upkeep()

    def _check_upkeep(self) -> None:
        for name in ("maintain_every", "maintain_forget_days"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v) or v < 0 or v > 10**9):
                raise InvalidInput(f"{name} must be a number of 0..1e9, got {v!r}")
        if self.maintain_forget_days is not None and not self.maintain_forget_days > 0:
            raise InvalidInput("maintain_forget_days must be > 0")
        if self.maintain_forget_days is not None and not self.maintain_every:
            raise InvalidInput("maintain_forget_days needs maintain_every (the schedule)")

    def _check_proxy(self) -> None:
        url = self.upstream_url
        if url is not None and (not isinstance(url, str)
                                or not url.startswith(("http://", "https://"))
                                or len(url.split("://", 1)[1].strip("/")) == 0):
            raise InvalidInput(f"upstream_url must be an http:// or https:// URL, got {url!r}")
        t = self.upstream_timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 3600:
            raise InvalidInput(f"upstream_timeout must be 0 < seconds <= 3600, got {t!r}")
        r = self.upstream_retries
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= 10:
            raise InvalidInput(f"upstream_retries must be an int 0..10, got {r!r}")
        for name in ("proxy_workers", "proxy_concurrency", "tenant_concurrency"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10_000:
                raise InvalidInput(f"{name} must be an int 1..10000, got {v!r}")
        for name in ("proxy_rate", "rate_limit"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or not 0 <= v <= 1e6 or (name == "proxy_rate" and v == 0):
                raise InvalidInput(f"{name} must be a number of {'0' if name == 'rate_limit' else '(0'}"
                                   f"..1e6], got {v!r}")
        b = self.proxy_budget_tokens
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 1_000_000:
            raise InvalidInput(f"proxy_budget_tokens must be an int 1..1000000, got {b!r}")

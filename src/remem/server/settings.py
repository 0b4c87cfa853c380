"""Server settings: one frozen dataclass, filled from CLI flags by ``commands.py``.

No framework imports here; building a ``Settings`` is free."""

from __future__ import annotations

from dataclasses import dataclass

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

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_import_bytes", "max_messages", "max_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a positive int, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise InvalidInput(f"port must be 0..65535, got {self.port}")
        if self.max_limit > 100_000:
            raise InvalidInput("max_limit must be at most 100000")

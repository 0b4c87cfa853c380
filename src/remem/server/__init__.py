"""remem's network interfaces: the REST API (``create_app``), API keys and tenants, and
the MCP server. Needs the ``server`` extra (``pip install 'remem[server]'``).

Importing this package is free: FastAPI, uvicorn and the MCP SDK are imported only when
``create_app`` (or a server command) is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

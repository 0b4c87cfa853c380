"""The ``serve``, ``keys`` and ``mcp`` CLI commands. Registering them is cheap: the
server frameworks are imported only when one of them runs."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, RememError
from .settings import Settings

_DEFAULTS = Settings()


def _require_extra() -> None:
    missing = []
    for mod in ("fastapi", "uvicorn", "mcp"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise RememError(f"this command needs the server extra ({', '.join(missing)} missing): "
                         "pip install 'remem[server]'")


def _store_path(args: argparse.Namespace) -> str:
    """The store target: a PostgreSQL DSN as given, or an expanded file path."""
    from .auth import is_dsn

    if args.db:
        return args.db if is_dsn(args.db) else str(Path(args.db).expanduser())
    from ..memory import default_path

    return str(default_path())


def cmd_serve(args: argparse.Namespace) -> int:
    if args.store:  # `remem serve --store DSN` is the same as `remem --db DSN serve`
        args.db = args.store
    settings = Settings(
        host=args.host, port=args.port, auth=not args.no_auth,
        max_body_bytes=args.max_body_bytes, max_import_bytes=args.max_import_bytes,
        max_messages=args.max_messages, max_limit=args.max_limit, mcp=not args.no_mcp,
        mcp_user=args.mcp_user, log_level=args.log_level,
        maintain_every=args.maintain_every, maintain_forget_days=args.maintain_forget_days,
        **_proxy_settings(args))
    _require_extra()
    import uvicorn

    from ..cli.common import open_memory as _open
    from .app import create_app

    with _open(args) as memory:
        if settings.auth and memory.store.path == ":memory:":
            raise InvalidInput("API keys need a store file or database; use --db PATH or "
                               "--db postgresql://... (or --no-auth)")
        app = create_app(memory, settings)
        url = f"http://{settings.host}:{settings.port}"
        print(f"remem serve: {url} (OpenAPI docs at {url}/docs"
              f"{', MCP at ' + url + '/mcp' if settings.mcp else ''}); store {memory.store.path}; "
              f"embedder {memory.embedder.name}", file=sys.stderr)
        if settings.upstream_url:
            print(f"remem serve: chat proxy at {url}/v1/chat/completions -> "
                  f"{settings.upstream_url} (model {settings.upstream_model or 'from requests'}, "
                  f"upstream key {'set' if settings.upstream_key else 'none'})", file=sys.stderr)
        if settings.auth:
            print("remem serve: API keys required (create one: remem keys create --tenant NAME)",
                  file=sys.stderr)
        else:
            bar = "!" * 78
            print(f"{bar}\n!! WARNING: --no-auth: NO AUTHENTICATION. Anyone who can reach {url}\n"
                  f"!! can read, change and delete EVERY memory in {memory.store.path}.\n"
                  f"!! Use it only for local, single-user work.\n{bar}", file=sys.stderr)
        if settings.maintain_every:
            print(f"remem serve: maintenance every {settings.maintain_every:g}s (forgetting "
                  + (f"with a half-life of {settings.maintain_forget_days:g} days)"
                     if settings.maintain_forget_days else "off)"), file=sys.stderr)
        sys.stderr.flush()
        _log_to_stderr(settings.log_level)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                    access_log=args.access_log)
    return 0


def _log_to_stderr(level: str) -> None:
    """Show the ``remem`` loggers (e.g. each scheduled maintenance report at INFO) at
    ``--log-level``, next to uvicorn's own lines, once: not again through a handler a
    library put on the root logger (the MCP SDK adds a Rich one)."""
    import logging

    logger = logging.getLogger("remem")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:  %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(level.upper())


def _proxy_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The chat proxy's settings; the upstream key comes from an environment variable
    (REMEM_UPSTREAM_KEY, or the one --upstream-key-env names), never from a flag."""
    env_name = args.upstream_key_env or "REMEM_UPSTREAM_KEY"
    key = os.environ.get(env_name) or None
    if args.upstream_key_env and key is None:
        raise InvalidInput(f"--upstream-key-env {env_name}: that environment variable is not set")
    return {"upstream_url": args.upstream, "upstream_model": args.upstream_model,
            "upstream_key": key, "upstream_timeout": args.upstream_timeout,
            "upstream_retries": args.upstream_retries,
            "proxy_budget_tokens": args.proxy_budget_tokens,
            "proxy_workers": args.proxy_workers, "proxy_concurrency": args.proxy_concurrency,
            "proxy_rate": args.proxy_rate, "rate_limit": args.rate_limit,
            "tenant_concurrency": args.tenant_concurrency}


def _emit_keys(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    if not args.plain:
        for row in rows:
            print(json.dumps(row))
        return
    from ..cli.common import table as _table

    print(_table(rows, [c for c in ("id", "tenant", "admin", "name", "active", "key")
                        if any(c in r for r in rows)]) if rows else "(no keys)")


def cmd_keys(args: argparse.Namespace) -> int:
    from .auth import is_dsn, open_key_store

    path = _store_path(args)
    if not is_dsn(path):
        if args.keys_command != "create" and not Path(path).exists():
            raise InvalidInput(f"no store at {path}")
    ks = open_key_store(path)
    try:
        if args.keys_command == "create":
            rec, secret = ks.create(tenant=args.tenant, admin=args.admin, name=args.name)
            _emit_keys(args, [{**rec.to_dict(), "key": secret}])
            print("store this key now: it is not shown again", file=sys.stderr)
        elif args.keys_command == "list":
            _emit_keys(args, [k.to_dict() for k in ks.list(args.tenant)])
        else:
            _emit_keys(args, [ks.revoke(args.key_id).to_dict()])
    finally:
        ks.close()
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    _require_extra()
    from ..cli.common import open_memory as _open
    from .auth import check_tenant
    from .mcp import run_stdio
    from .tenancy import Principal, TenantMemory

    if args.tenant is not None:
        check_tenant(args.tenant)
    with _open(args) as memory:
        run_stdio(TenantMemory(memory, Principal(args.tenant)), args.user)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``serve``, ``keys`` and ``mcp`` to the ``remem`` subcommands. ``common`` holds
    the global options (--db, --embedder, --plain) that are accepted after a command."""
    # remem.cli wraps sub.add_parser to add ``common`` itself; a plain one needs it passed
    top = {"parents": [common]} if inspect.ismethod(sub.add_parser) else {}

    sp = sub.add_parser("serve", help="run the REST API (OpenAPI at /docs, MCP at /mcp)", **top)
    sp.add_argument("--host", default=_DEFAULTS.host, help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=_DEFAULTS.port, help="port (default 8420)")
    sp.add_argument("--store", metavar="PATH_OR_DSN",
                    help="the store: a SQLite file or postgresql://... (same as --db)")
    sp.add_argument("--no-auth", action="store_true",
                    help="no API keys: one implicit tenant, for local single-user use ONLY")
    sp.add_argument("--max-body-bytes", type=int, default=_DEFAULTS.max_body_bytes,
                    help="request body cap (default 1 MiB)")
    sp.add_argument("--max-import-bytes", type=int, default=_DEFAULTS.max_import_bytes,
                    help="request body cap of POST /v1/import (default 32 MiB)")
    sp.add_argument("--max-messages", type=int, default=_DEFAULTS.max_messages,
                    help="messages per add (default 500)")
    sp.add_argument("--max-limit", type=int, default=_DEFAULTS.max_limit,
                    help="largest limit for search and list (default 1000)")
    sp.add_argument("--no-mcp", action="store_true", help="do not mount the MCP transport at /mcp")
    sp.add_argument("--mcp-user", default=_DEFAULTS.mcp_user,
                    help="MCP user when a client sends no X-Remem-User header (default 'default')")
    sp.add_argument("--log-level", default=_DEFAULTS.log_level,
                    choices=["critical", "error", "warning", "info", "debug"])
    sp.add_argument("--access-log", action="store_true", help="log every request")
    sp.add_argument("--maintain-every", type=float, metavar="SECONDS",
                    help="run maintenance (merge duplicates, summaries, profiles) for every "
                         "user this long after the last run ended (default: off)")
    sp.add_argument("--maintain-forget-days", type=float, metavar="N",
                    help="scheduled maintenance also archives what has faded, with a "
                         "half-life of N days (default: never forgets)")
    px = sp.add_argument_group("chat proxy", "POST /v1/chat/completions: OpenAI-compatible chat "
                               "that injects the user's memories and records the exchange")
    px.add_argument("--upstream", metavar="URL",
                    help="turn the proxy on: the OpenAI-compatible base URL to forward to "
                         "(e.g. https://api.openai.com/v1, http://localhost:11434/v1)")
    px.add_argument("--upstream-model", metavar="NAME",
                    help="the model when a request names none")
    px.add_argument("--upstream-key-env", metavar="NAME",
                    help="environment variable holding the upstream API key "
                         "(default REMEM_UPSTREAM_KEY; unset: no key)")
    px.add_argument("--upstream-timeout", type=float, default=_DEFAULTS.upstream_timeout,
                    metavar="SECONDS", help="per upstream attempt (default 60)")
    px.add_argument("--upstream-retries", type=int, default=_DEFAULTS.upstream_retries,
                    metavar="N", help="retries after connection errors, timeouts, 429, 5xx (default 2)")
    px.add_argument("--proxy-budget-tokens", type=int, default=_DEFAULTS.proxy_budget_tokens,
                    metavar="N", help="memories injected per request, in tokens (default 1000)")
    px.add_argument("--proxy-workers", type=int, default=_DEFAULTS.proxy_workers, metavar="N",
                    help="threads for upstream calls, apart from the routes' pool (default 32)")
    px.add_argument("--proxy-concurrency", type=int, default=_DEFAULTS.proxy_concurrency,
                    metavar="N", help="proxy calls in flight per tenant; more get 429 (default 8)")
    px.add_argument("--proxy-rate", type=float, default=_DEFAULTS.proxy_rate, metavar="PER_S",
                    help="proxy calls per second per tenant, burst twice that; more get 429 "
                         "(default 10)")
    sp.add_argument("--rate-limit", type=float, default=_DEFAULTS.rate_limit, metavar="PER_S",
                    help="requests per second per tenant on every route, burst twice that; "
                         "more get 429 with Retry-After (default 0: off)")
    sp.add_argument("--tenant-concurrency", type=int, default=_DEFAULTS.tenant_concurrency,
                    metavar="N", help="a tenant's requests in flight on the memory routes, "
                                      "of the 40 threads they share; more get 429 (default 32)")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("keys", help="create, list or revoke API keys of remem serve", **top)
    ksub = sp.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = ksub.add_parser("create", parents=[common], help="create a key (shown once)")
    who = k.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", help="the tenant the key belongs to ([A-Za-z0-9_-], 1-64)")
    who.add_argument("--admin", action="store_true", help="an admin key (manages keys over HTTP)")
    k.add_argument("--name", help="a label shown in listings")
    k.set_defaults(func=cmd_keys)
    k = ksub.add_parser("list", parents=[common], help="list keys (never their secrets)")
    k.add_argument("--tenant", help="only this tenant's keys")
    k.set_defaults(func=cmd_keys)
    k = ksub.add_parser("revoke", parents=[common], help="revoke a key by its id")
    k.add_argument("key_id", help="the key's id (from keys list)")
    k.set_defaults(func=cmd_keys)

    sp = sub.add_parser("mcp", help="run the MCP server over stdio for one user", **top)
    sp.add_argument("--user", "-u", required=True, help="the user whose memories the tools use")
    sp.add_argument("--tenant", help="the tenant of that user (as in remem serve)")
    sp.set_defaults(func=cmd_mcp)

"""The server's framework-free parts in-process (tenant id mapping, the key table,
settings), and that the CLI stays fast: no server framework imported by ``remem``."""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from remem import HashingEmbedder, ImportFormatError, InvalidInput, Memory, MigrationError, NotFound
from remem.server.auth import SQLiteKeyStore, check_tenant
from remem.server.settings import Settings
from remem.server.auth import authenticate
from remem.server.errors import ApiError
from remem.server.tenancy import Owners, Principal, TenantMemory, confine_export, confine_import


def test_principal_maps_user_ids_into_the_tenant() -> None:
    p = Principal("acme")
    assert p.inner("ana") == "acme::ana" and p.outer("acme::ana") == "ana"
    assert p.owns("acme::ana") and not p.owns("acme2::ana") and not p.owns("acm") and not p.owns(None)
    assert not Principal("acm").owns("acme::ana")  # a tenant that is a prefix of another
    for bad in ("a::b", "", "  ", "x\x00", 5, None, "u" * 251):
        with pytest.raises(InvalidInput):
            p.inner(bad)
    assert p.inner("u" * 250) == "acme::" + "u" * 250  # 256 with the prefix
    local = Principal(None)  # --no-auth: ids as given
    assert local.inner("a::b") == "a::b" and local.owns("anything") and local.outer("x::y") == "x::y"


def test_tenant_memory_is_one_tenants_view(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as mem:
        a, b = TenantMemory(mem, Principal("a")), TenantMemory(mem, Principal("b"))
        mine = a.add("Ana likes figs", user_id="ana").memory_ids[0]
        b.add("Ana likes plums", user_id="ana")  # the same user name in another tenant
        assert [h.user_id for h in a.search("figs", user_id="ana")] == ["ana"]
        assert [i.text for i in b.get_all(user_id="ana")] == ["Ana likes plums"]
        assert a.get(mine).user_id == "ana" and mem.get(mine).user_id == "a::ana"
        for attempt in (lambda: b.get(mine), lambda: b.delete(mine), lambda: b.history(mine),
                        lambda: b.update(mine, "x"), lambda: b.archive(mine),
                        lambda: a.get(mine, user_id="bo")):
            with pytest.raises(NotFound):
                attempt()
        with pytest.raises(InvalidInput):
            a.add("x", user_id="b::ana")  # no way out of the tenant
        with pytest.raises(InvalidInput, match="user_id is required"):
            a.maintain()  # a tenant maintains one user, never all
        assert [u["user_id"] for u in a.users(10, 0)[0]] == ["ana"]
        with pytest.raises(ApiError) as refused:
            TenantMemory(mem, Principal(None, "k", admin=True))
        assert refused.value.status == 403


def test_authenticate(tmp_path: Path) -> None:
    keys = SQLiteKeyStore(str(tmp_path / "k.db"))
    try:
        rec, secret = keys.create(tenant="acme")
        assert authenticate(f"Bearer {secret}", keys) == Principal("acme", rec.id)
        assert authenticate(f"bearer  {secret} ", keys).tenant == "acme"
        assert authenticate(None, None) == Principal(None)  # --no-auth
        for header in (None, "", "Bearer", f"Basic {secret}", "Bearer rmk_nope"):
            with pytest.raises(ApiError) as e:
                authenticate(header, keys)
            assert e.value.status == 401
        keys.revoke(rec.id)
        with pytest.raises(ApiError, match="invalid or revoked"):
            authenticate(f"Bearer {secret}", keys)
    finally:
        keys.close()


def test_tenant_names() -> None:
    assert check_tenant("Acme_2-b") == "Acme_2-b"
    for bad in ("", "a" * 65, "a:b", "a b", "é", None):
        with pytest.raises(InvalidInput):
            check_tenant(bad)


def test_key_store(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    ks = SQLiteKeyStore(str(db))
    rec, key = ks.create(tenant="acme", name="ci")
    admin, admin_key = ks.create(admin=True)
    assert ks.verify(key) == rec and ks.verify(admin_key) == admin and admin.tenant is None
    assert ks.verify(key + "x") is None and ks.verify("") is None and ks.verify(None) is None  # type: ignore[arg-type]
    assert ks.verify(key.replace(rec.id, "0" * 12)) is None
    assert [k.id for k in ks.list("acme")] == [rec.id] and len(ks.list()) == 2
    assert ks.revoke(rec.id).revoked_at is not None and ks.verify(key) is None
    assert ks.revoke(rec.id).active is False  # twice is fine
    with pytest.raises(NotFound):
        ks.revoke("nope")
    for kw in ({}, {"tenant": "a", "admin": True}, {"tenant": "bad tenant"}, {"tenant": "a", "name": "x\n"}):
        with pytest.raises(InvalidInput):
            ks.create(**kw)  # type: ignore[arg-type]
    ks.close()
    # the store opens the same file as usual; keys never appear in its export
    with Memory(db, embedder=HashingEmbedder()) as mem:
        mem.add("hello", user_id="acme::u")
        buf = io.StringIO()
        mem.export(buf)
    assert key not in buf.getvalue() and "api_keys" not in buf.getvalue()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT value FROM api_keys_meta WHERE key='schema_version'").fetchone() == ("1",)
        c.execute("UPDATE api_keys_meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(MigrationError):
        SQLiteKeyStore(str(db))


def test_confine_import_and_export(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder=HashingEmbedder()) as mem:
        mem.add("Ana likes figs", user_id="a::ana")
        mem.add("Bo likes plums", user_id="b::bo")
        owners = Owners(mem)
        try:
            buf = io.StringIO()
            mem.export(buf, user_id="a::ana")
            a, b = Principal("a"), Principal("b")
            out = confine_export(a, buf.getvalue())
            assert '"user_id": "ana"' in out and "a::ana" not in out
            with pytest.raises(ImportFormatError, match="not yours"):
                confine_import(b, owners, out)  # a's ids
            lines = out.splitlines()
            with pytest.raises(ImportFormatError, match="another tenant") as ei:
                confine_import(b, owners, lines[0] + "\n" + lines[1].replace('"ana"', '"x::ana"'))
            assert ei.value.line == 2
            same = confine_import(a, owners, out).getvalue()  # a re-importing its own: fine
            assert '"user_id": "a::ana"' in same
            assert "\n\nnot json" in confine_import(a, owners, "\n\nnot json").getvalue()
        finally:
            owners.close()


def test_settings_validate() -> None:
    assert Settings().max_limit == 1000
    for kw in ({"max_limit": 0}, {"max_messages": -1}, {"max_body_bytes": True}, {"port": 70000},
               {"max_limit": 10**6}):
        with pytest.raises(InvalidInput):
            Settings(**kw)  # type: ignore[arg-type]


def test_register_works_with_a_plain_subparsers_object() -> None:
    from remem.server import commands

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db")
    p = argparse.ArgumentParser()
    commands.register(p.add_subparsers(dest="command"), common)
    args = p.parse_args(["keys", "create", "--tenant", "t", "--db", "x.db"])
    assert args.tenant == "t" and args.db == "x.db" and args.func is commands.cmd_keys
    args = p.parse_args(["serve", "--no-auth", "--max-limit", "5", "--db", "y.db"])
    assert args.no_auth and args.max_limit == 5 and args.db == "y.db"


def test_cli_does_not_import_the_server_frameworks() -> None:
    code = ("import sys, remem, remem.cli, remem.server\n"
            "remem.cli.build_parser()\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('fastapi', 'starlette', 'uvicorn', 'mcp', 'pydantic', 'httpx'))\n"
            "print(json.dumps(heavy))\n")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
    t0 = time.perf_counter()
    helped = subprocess.run([sys.executable, "-m", "remem.cli", "--help"], capture_output=True,
                            text=True, timeout=60)
    elapsed = time.perf_counter() - t0
    assert helped.returncode == 0 and "serve" in helped.stdout and "keys" in helped.stdout
    assert elapsed < 1.5, f"remem --help took {elapsed:.2f}s"

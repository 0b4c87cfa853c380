"""What a newcomer sees on the command line (issue 18): each command says what happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import MESSAGES, Cli, turn_id


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "cli.db", capsys)


@pytest.fixture
def messages_file(tmp_path: Path) -> Path:
    p = tmp_path / "messages.json"
    p.write_text(json.dumps(MESSAGES), encoding="utf-8")
    return p


def test_demo_twice_says_the_turns_are_already_stored(cli: Cli) -> None:
    assert "remem demo: stored 14 turns for user 'demo-ana'" in cli.ok("demo", "-n", "1")
    again = cli.ok("demo", "-n", "1").splitlines()[0]
    assert again.startswith("remem demo: 14 turns already stored for user 'demo-ana'"), again


def test_add_tells_new_from_skipped(cli: Cli, messages_file: Path) -> None:
    [first] = cli.json("add", "--file", str(messages_file), "--user", "ana")
    assert (first["added"], first["skipped"]) == (3, 0)
    [again] = cli.json("add", "--file", str(messages_file), "--user", "ana")
    assert (again["added"], again["skipped"], again["memory_ids"]) == (0, 3, [])


def test_list_shows_what_was_said_and_type_shows_the_rest(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    said = cli.json("list", "--user", "ana")
    assert [r["source_ids"] for r in said] == [["m1"], ["m2"], ["m3"]]
    assert {r["type"] for r in said} == {"turn"}
    segments = cli.json("list", "--user", "ana", "--type", "segment")
    assert segments and {r["type"] for r in segments} == {"segment"}
    assert len(cli.json("list", "--user", "ana", "--type", "all")) == len(said) + len(segments)
    assert "TYPE" in cli.ok("list", "--user", "ana", "--type", "all", "--plain").splitlines()[0]


def test_list_by_status_finds_archived_and_superseded(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    m1, m2, m3 = (turn_id(cli, "ana", m) for m in ("m1", "m2", "m3"))
    cli.ok("archive", m1, "--user", "ana")
    cli.ok("supersede", m2, m3, "--user", "ana")
    ids = lambda *a: [r["id"] for r in cli.json("list", "--user", "ana", *a)]  # noqa: E731
    assert ids() == [m3]
    assert ids("--status", "archived") == [m1]
    assert ids("--status", "superseded") == [m2]
    assert ids("--status", "all") == [m1, m2, m3]
    [row] = cli.json("list", "--user", "ana", "--status", "superseded")
    assert row["superseded_by"] == m3 and row["valid_to"]
    assert "STATUS" in cli.ok("list", "--user", "ana", "--status", "all", "--plain").splitlines()[0]
    cli.ok("unarchive", m1, "--user", "ana")
    assert ids() == [m1, m3]


def test_history_works_after_delete(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    mid = turn_id(cli, "ana", "m3")
    cli.ok("update", mid, "I adopted a puppy called Pimenta.")
    cli.ok("delete", mid)
    assert "remem history " + mid in cli.fails("show", mid)
    events = cli.json("history", mid)
    assert [e["event"] for e in events] == ["ADD", "UPDATE", "DELETE"]
    assert events[1]["old_text"] == "I adopted a rescue dog called Pimenta last weekend."
    plain = cli.ok("history", mid, "--plain")
    assert ("I adopted a rescue dog called Pimenta last weekend. -> "
            "I adopted a puppy called Pimenta.") in plain
    assert "no history" in cli.fails("history", mid, "--user", "bob")


def test_search_plain_explain_shows_every_part_whole(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    hits = cli.json("search", "dog Pimenta", "--user", "ana", "-n", "2")
    out = cli.ok("search", "dog Pimenta", "--user", "ana", "-n", "2", "--plain", "--explain")
    lines = out.splitlines()
    assert "EXPLAIN" not in lines[0]
    parts = " ".join(line.strip() for line in lines if line.startswith("    "))
    for hit in hits:
        for key, value in hit["explain"].items():
            assert f"{key}={value:.4g}" in parts  # whole, never cut mid-value


def test_export_reports_memories_episodes_history(cli: Cli, messages_file: Path,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    n_mem = len(cli.json("list", "--user", "ana", "--type", "all"))
    capsys.readouterr()
    rc = __import__("remem.cli", fromlist=["main"]).main(
        ["--db", str(cli.db), "--embedder", "hashing", "export", str(tmp_path / "x.jsonl"),
         "--plain"])
    err = capsys.readouterr().err
    assert rc == 0
    assert err.startswith(f"exported {n_mem} memories, 3 episodes and {n_mem} history entries")


def test_sessions_too_short_to_summarise_get_no_summary(cli: Cli, tmp_path: Path) -> None:
    def session(name: str, n: int) -> str:
        msgs = [{"role": "user", "name": "Ana", "id": f"{name}-{i}",
                 "content": f"Day {i} of the {name} trip: we walked along the river {i} km."}
                for i in range(n)]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(msgs), encoding="utf-8")
        return str(path)

    cli.ok("add", "--file", session("short", 4), "--user", "ana", "--session", "short")
    cli.ok("add", "--file", session("long", 8), "--user", "ana", "--session", "long")
    cli.ok("maintain", "--user", "ana", "--no-profiles")
    summaries = cli.json("list", "--user", "ana", "--type", "summary")
    assert [s["session_id"] for s in summaries] == ["long"]
    assert summaries[0]["text"].startswith("Summary of 8 turns")


def test_default_store_is_named_once(tmp_path: Path) -> None:
    """Without --db (and REMEM_PATH) the store goes to the user data dir: said once."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "REMEM_EMBEDDER": "hashing", "XDG_DATA_HOME": str(tmp_path / "data"),
           "HOME": str(tmp_path)}
    env.pop("REMEM_PATH", None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "remem.cli", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    first = run("add", "hello", "--user", "ana")
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith("remem: storing memories in ") and "--db" in first.stderr
    path = first.stderr.split("storing memories in ")[1].split(" (")[0]
    assert Path(path).exists() and Path(path).is_relative_to(tmp_path)
    again = run("list", "--user", "ana", "--ids")
    assert again.returncode == 0 and again.stderr == "" and len(again.stdout.split()) == 1


def test_ids_for_scripts(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    ids = cli.ok("list", "--user", "ana", "--ids").split()
    assert ids == [r["id"] for r in cli.json("list", "--user", "ana")]
    [top] = cli.ok("search", "Pimenta", "--user", "ana", "-n", "1", "--ids").split()
    assert top in ids

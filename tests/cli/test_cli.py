"""The ``remem`` command line, in-process through ``main`` and as a real subprocess."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remem import HashingEmbedder, Memory
from remem.bench import locomo
from remem.cli import build_parser, main

from conftest import turn_items

# -- helpers ----------------------------------------------------------------------------


class Cli:
    """Runs ``main`` in-process on one store file with the hashing embedder."""

    def __init__(self, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.db = db
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()  # drop anything printed before
        rc = main(["--db", str(self.db), "--embedder", "hashing", *args])
        out, err = self.capsys.readouterr()
        return rc, out, err

    def ok(self, *args: str) -> str:
        rc, out, err = self(*args)
        assert rc == 0, err
        assert err == ""
        return out

    def json(self, *args: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok(*args).splitlines() if line.strip()]

    def fails(self, *args: str) -> str:
        rc, out, err = self(*args)
        assert rc == 1
        assert err.startswith("error: "), err
        assert err.count("\n") == 1  # one line, no traceback
        return err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "cli.db", capsys)


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["REMEM_EMBEDDER"] = "hashing"
    env["REMEM_PATH"] = str(tmp_path / "default-should-not-be-used.db")
    env.pop("PYTHONWARNINGS", None)
    return env


def run_remem(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remem.cli", "--db", str(tmp_path / "sub.db"),
         "--embedder", "hashing", *args],
        input=stdin, capture_output=True, text=True, env=subprocess_env(tmp_path), timeout=120,
        cwd=tmp_path,
    )


MESSAGES = [
    {"role": "user", "name": "Ana", "id": "m1", "timestamp": "2024-05-01T10:00:30Z",
     "content": "I just moved to Lisbon for a job at a robotics startup."},
    {"role": "assistant", "name": "Max", "id": "m2", "timestamp": "2024-05-01T10:01:00Z",
     "content": "Congratulations! How is the apartment hunt going?"},
    {"role": "user", "name": "Ana", "id": "m3", "timestamp": "2024-05-02T09:00:00Z",
     "content": "I adopted a rescue dog called Pimenta last weekend."},
]


TURNS = '{"type": "turn"}'


def turns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only memories of type "turn" (one per message); derived types are left out."""
    return [r for r in rows if r["type"] == "turn"]


def turn_id(cli: Cli, user: str, source_id: str) -> str:
    [row] = [r for r in turns(cli.json("list", "--user", user)) if r["source_ids"] == [source_id]]
    return str(row["id"])


@pytest.fixture
def messages_file(tmp_path: Path) -> Path:
    p = tmp_path / "messages.json"
    p.write_text(json.dumps(MESSAGES), encoding="utf-8")
    return p


# -- add / search / list / show ---------------------------------------------------------
def test_add_text_then_list(cli: Cli) -> None:
    [res] = cli.json("add", "I", "play", "the", "cello", "--user", "ana", "--speaker", "Ana",
                     "--id", "turn-1", "--timestamp", "2024-05-01T10:00:00Z", "--agent", "bot",
                     "--session", "s1", "--metadata", '{"topic": "music"}', "--role", "user")
    assert res["skipped"] == 0 and len(res["memory_ids"]) == 1 and len(res["episode_ids"]) == 1
    [item] = cli.json("list", "--user", "ana")
    assert item["id"] == res["memory_ids"][0]
    assert item["text"] == "I play the cello"
    assert item["speaker"] == "Ana" and item["source_ids"] == ["turn-1"]
    assert (item["agent_id"], item["session_id"]) == ("bot", "s1")
    assert item["metadata"] == {"topic": "music"}
    assert item["event_time"] == "2024-05-01T10:00:00+00:00"
    # same id, same text again: skipped
    assert cli.json("add", "I play the cello", "-u", "ana", "--speaker", "Ana", "--id", "turn-1",
                    "--agent", "bot", "--session", "s1")[0]["skipped"] == 1
    assert len(cli.json("list", "--user", "ana")) == 1


def test_add_file_then_search_json_lines(cli: Cli, messages_file: Path) -> None:
    [res] = cli.json("add", "--file", str(messages_file), "--user", "ana")
    assert len(res["episode_ids"]) == 3 and len(res["memory_ids"]) >= 3
    assert "m3" in cli.json("search", "rescue", "dog", "Pimenta", "--user", "ana")[0]["source_ids"]
    hits = cli.json("search", "rescue", "dog", "Pimenta", "--user", "ana", "--filters", TURNS)
    assert hits[0]["text"] == MESSAGES[2]["content"]
    assert hits[0]["source_ids"] == ["m3"] and hits[0]["speaker"] == "Ana"
    assert {"lexical", "dense"} <= set(hits[0]["explain"])
    assert all(h["user_id"] == "ana" for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert len(cli.json("search", "Lisbon", "--user", "ana", "--limit", "1")) == 1
    assert cli.json("search", "Lisbon", "--user", "nobody") == []


def test_search_filters_and_scope_options(cli: Cli) -> None:
    cli.ok("add", "green tea in the morning", "-u", "u", "--metadata", '{"kind": "drink"}',
           "--session", "s1")
    cli.ok("add", "green apples for lunch", "-u", "u", "--metadata", '{"kind": "food"}',
           "--session", "s2")
    hits = cli.json("search", "green", "-u", "u", "--filters", '{"kind": "food"}')
    assert [h["text"] for h in hits] == ["green apples for lunch"]
    hits = cli.json("search", "green", "-u", "u", "--session", "s1")
    assert [h["text"] for h in hits] == ["green tea in the morning"]


def test_search_json_keeps_full_iso_event_time(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    hit = cli.json("search", "Lisbon", "robotics", "--user", "ana", "--filters", TURNS)[0]
    assert hit["source_ids"] == ["m1"]
    assert hit["event_time"] == "2024-05-01T10:00:30+00:00"


def test_search_plain_table(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    out = cli.ok("search", "rescue dog Pimenta", "--user", "ana", "--plain", "--filters", TURNS)
    lines = out.splitlines()
    assert lines[0].split() == ["SCORE", "SPEAKER", "EVENT_TIME", "TEXT", "SOURCE_IDS"]
    assert "2024-05-02 09:00" in lines[1] and "Pimenta" in lines[1] and lines[1].endswith("m3")
    assert len(lines) == 1 + 3
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[1])
    explained = cli.ok("--plain", "search", "rescue dog Pimenta", "--user", "ana", "--explain")
    assert explained.splitlines()[2].startswith("    lexical=")  # parts under each hit
    assert "lexical=" in explained and "dense=" in explained
    assert cli.ok("search", "anything", "--user", "nobody", "--plain").strip() == "(nothing)"


def test_search_context_and_budget(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana", "--session", "s9")
    out = cli.ok("search", "rescue dog Pimenta", "--user", "ana", "--context", "--filters", TURNS)
    assert "## session s9" in out
    assert "[2024-05-02] Ana: I adopted a rescue dog called Pimenta last weekend." in out
    every = cli.json("search", "rescue dog Pimenta", "--user", "ana")
    hits = cli.json("search", "rescue dog Pimenta", "--user", "ana", "--budget", "40")
    assert 1 <= len(hits) < len(every)


def test_plain_table_keeps_one_line_per_row(cli: Cli, tmp_path: Path) -> None:
    msgs = [{"role": "user", "content": "shopping list:\nmilk\neggs", "id": "n1"}]
    cli.ok("add", "--file", str(_write(tmp_path, "nl.json", json.dumps(msgs))), "--user", "ana")
    rows = cli.json("list", "--user", "ana")
    assert len(cli.ok("list", "--user", "ana", "--plain").splitlines()) == 1 + len(rows)
    hits = cli.json("search", "milk", "--user", "ana")
    assert len(cli.ok("search", "milk", "--user", "ana", "--plain").splitlines()) == 1 + len(hits)


def test_list_plain_and_pagination(cli: Cli) -> None:
    for msg in reversed(MESSAGES):  # one message per add, newest first
        cli.ok("add", msg["content"], "--user", "ana", "--id", msg["id"], "--speaker", msg["name"],
               "--timestamp", msg["timestamp"])
    items = cli.json("list", "--user", "ana")
    assert [i["source_ids"] for i in items] == [["m1"], ["m2"], ["m3"]]  # event-time order
    page = cli.json("list", "--user", "ana", "--limit", "1", "--offset", "1")
    assert [i["source_ids"] for i in page] == [["m2"]]
    out = cli.ok("list", "--user", "ana", "--plain")
    assert out.splitlines()[0].split() == ["ID", "SESSION_ID", "SPEAKER", "TEXT", "SOURCE_IDS"]
    assert len(out.splitlines()) == 1 + 3


def test_show_update_history(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    mid = turn_id(cli, "ana", "m1")
    [updated] = cli.json("update", mid, "I", "moved", "to", "Porto", "--user", "ana")
    assert updated["id"] == mid and updated["text"] == "I moved to Porto"
    [shown] = cli.json("show", mid)
    assert shown["text"] == "I moved to Porto" and shown["source_ids"] == ["m1"]
    assert [(h["event"], h["old_text"], h["new_text"]) for h in shown["history"]] == [
        ("ADD", None, MESSAGES[0]["content"]), ("UPDATE", MESSAGES[0]["content"], "I moved to Porto")]
    plain = cli.ok("show", mid, "--plain")
    assert "I moved to Porto" in plain and "UPDATE" in plain and "ADD" in plain
    hits = cli.json("search", "Porto", "--user", "ana", "--filters", TURNS)
    assert hits[0]["id"] == mid
    # another user cannot see or change it
    assert "no memory" in cli.fails("show", mid, "--user", "bob")
    cli.fails("update", mid, "hijack", "--user", "bob")
    assert cli.json("show", mid)[0]["text"] == "I moved to Porto"


def test_delete_one_and_all(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    cli.ok("add", "bob keeps bees", "--user", "bob")
    mid = turn_id(cli, "ana", "m2")
    n = len(turns(cli.json("list", "--user", "ana")))
    assert cli.json("delete", mid, "--user", "ana") == [{"deleted": 1, "id": mid}]
    assert "no memory" in cli.fails("show", mid)
    assert len(turns(cli.json("list", "--user", "ana"))) == n - 1
    assert [r["source_ids"] for r in turns(cli.json("list", "--user", "ana"))] == [["m1"], ["m3"]]
    left = len(cli.json("list", "--user", "ana"))
    assert cli.json("delete", "--all", "--user", "ana") == [{"deleted": left, "user_id": "ana"}]
    assert cli.json("list", "--user", "ana") == []
    assert [i["text"] for i in cli.json("list", "--user", "bob")] == ["bob keeps bees"]


def test_export_import_round_trip(cli: Cli, messages_file: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana", "--metadata", '{"k": 1}')
    mid = turn_id(cli, "ana", "m3")
    cli.ok("update", mid, "I adopted a puppy")
    n_mem = len(cli.json("list", "--user", "ana", "--type", "all"))
    path = tmp_path / "dump.jsonl"
    [stats] = cli.json("export", str(path))
    # 3 episodes, the memories, one ADD per memory and one UPDATE
    assert stats == {"episodes": 3, "memories": n_mem, "history": n_mem + 1, "path": str(path)}
    other = Cli(tmp_path / "other.db", capsys)
    [imported] = other.json("import", str(path))
    assert imported == {"episodes": 3, "memories": n_mem, "history": n_mem + 1, "skipped": 0}
    assert other.json("list", "--user", "ana") == cli.json("list", "--user", "ana")
    assert other.json("show", mid) == cli.json("show", mid)
    assert other.json("show", mid)[0]["metadata"] == {"k": 1}
    [again] = other.json("import", str(path))
    assert again["skipped"] == 3 + n_mem + n_mem + 1 and again["memories"] == 0
    # --user limits the export
    only_bob = tmp_path / "bob.jsonl"
    assert cli.json("export", str(only_bob), "--user", "bob")[0]["memories"] == 0


def test_export_to_stdout(cli: Cli, messages_file: Path) -> None:
    cli.ok("add", "--file", str(messages_file), "--user", "ana")
    lines = [json.loads(x) for x in cli.ok("export", "-").splitlines()]
    assert lines[0]["kind"] == "header" and lines[0]["embed_model"] == "hashing-256"
    assert [x["kind"] for x in lines[1:]].count("memory") == len(cli.json("list", "--user", "ana", "--type", "all"))
    assert [x["kind"] for x in lines[1:]].count("episode") == 3


def test_import_errors(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "header", "format": "remem-export", "version": 1}\n{oops\n')
    assert "line 2" in cli.fails("import", str(bad))
    assert "directory" in cli.fails("import", str(tmp_path))
    assert "does not exist" in cli.fails("import", str(tmp_path / "nope.jsonl"))


# -- demo -------------------------------------------------------------------------------
def test_demo(cli: Cli) -> None:
    out = cli.ok("demo")
    assert "remem demo: stored 14 turns for user 'demo-ana'" in out
    assert "embedder: hashing-256" in out
    questions = [line for line in out.splitlines() if line.startswith("? ")]
    assert len(questions) == 5 and questions[0].startswith("? Where does Ana work?")
    # each hit starts "   SCORE  [DATE] ..." (a multi-turn hit may run over several lines)
    blocks = re.split(r"^\? .*$", out, flags=re.M)[1:]
    hits = [re.findall(r"^   \d\.\d{4}  \[\d{4}-\d\d-\d\d\] ", b, flags=re.M) for b in blocks]
    assert [len(h) for h in hits] == [3] * 5  # default --limit 3
    credited = re.findall(r" <- ([\w,-]+)$", blocks[4], flags=re.M)
    # "Who is visiting Ana this summer?": "My sister Inês is visiting from Porto in July..."
    assert "s3-5" in ",".join(credited).split(",")
    # the demo is idempotent on the same store: turn ids are skipped the second time
    cli.ok("demo", "--limit", "1")
    assert len(turns(cli.json("list", "--user", "demo-ana"))) == 14


# -- errors -----------------------------------------------------------------------------
def test_error_messages_and_exit_codes(cli: Cli, tmp_path: Path) -> None:
    assert "no memory" in cli.fails("show", "does-not-exist")
    assert "give the text" in cli.fails("add", "--user", "ana")
    assert "user_id" in cli.fails("add", "hello", "--user", "")
    assert "limit" in cli.fails("search", "x", "--user", "ana", "--limit", "0")
    assert "--filters" in cli.fails("search", "x", "--user", "ana", "--filters", "{bad")
    assert "filter key" in cli.fails("search", "x", "--user", "ana", "--filters", '{"a b": 1}')
    assert "--metadata" in cli.fails("add", "x", "--user", "ana", "--metadata", "[1")
    assert "timestamp" in cli.fails("add", "x", "--user", "ana", "--timestamp", "whenever")
    assert "memory id" in cli.fails("delete")
    assert "--user" in cli.fails("delete", "--all")
    assert "not valid JSON" in cli.fails("add", "--user", "ana", "--file", str(_write(tmp_path, "x.json", "{")))
    assert cli.fails("add", "--user", "ana", "--file", str(tmp_path / "missing.json"))
    assert "role" in cli.fails("add", "x", "--user", "ana", "--role", "wizard")
    # nothing was stored by any of the failures
    assert cli.json("list", "--user", "ana") == []


def test_unknown_embedder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--db", str(tmp_path / "x.db"), "--embedder", "word2vec", "list", "--user", "u"])
    assert rc == 1
    assert "unknown embedder 'word2vec'" in capsys.readouterr().err


def test_hashing_embedder_name_is_honoured_or_rejected(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--db", str(tmp_path / "x.db"), "--embedder", "hashing-64", "demo", "--limit", "1"])
    out, err = capsys.readouterr()
    assert (rc == 1 and err.startswith("error: ")) or (rc == 0 and "embedder: hashing-64" in out)


@pytest.mark.parametrize("argv", [
    ["add", "text"], ["search", "query"], ["list"],  # --user is required
    [],  # a command is required
    ["frobnicate"],
    ["bench"],
])
def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["--db", str(tmp_path / "x.db"), "--embedder", "hashing", *argv])
    assert ei.value.code == 2
    assert "usage:" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


def test_global_options_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "after.db"
    assert main(["add", "hello there", "--user", "u", "--db", str(db), "--embedder", "hashing"]) == 0
    capsys.readouterr()
    assert main(["list", "--user", "u", "--db", str(db), "--embedder", "hashing", "--plain"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("ID") and "hello there" in out


def test_every_subcommand_has_help() -> None:
    parser = build_parser()

    def choices(p: argparse.ArgumentParser) -> list[argparse.Action]:
        [sub] = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        return list(sub._choices_actions)

    top = choices(parser)
    assert {"add", "search", "list", "show", "update", "delete", "export", "import", "demo",
            "bench"} <= {a.dest for a in top}
    for action in top:
        assert action.help and action.help.strip(), f"{action.dest} has no help"
    bench = parser._subparsers._group_actions[0].choices["bench"]  # type: ignore[union-attr]
    assert "locomo" in {a.dest for a in choices(bench)}
    for action in choices(bench):
        assert action.help and action.help.strip(), f"bench {action.dest} has no help"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# -- bench locomo -----------------------------------------------------------------------
CONVERSATION = {
    "speaker_a": "Caroline",
    "speaker_b": "Melanie",
    "session_1_date_time": "1:56 pm on 8 May, 2023",
    "session_1": [
        {"speaker": "Caroline", "dia_id": "D1:1",
         "text": "Hey Mel! I went to an LGBTQ support group yesterday."},
        {"speaker": "Melanie", "dia_id": "D1:2", "text": "That sounds powerful. How did it feel?"},
        {"speaker": "Caroline", "dia_id": "D1:3",
         "text": "Inspiring. I want to research adoption agencies and study counseling."},
        {"speaker": "Melanie", "dia_id": "D1:4", "text": "Look at this!",
         "blip_caption": "a painting of a sunrise over a lake"},
    ],
    "session_2_date_time": "10:37 am on 27 June, 2023",
    "session_2": [
        {"speaker": "Melanie", "dia_id": "D2:1", "text": "We went camping at the beach with the kids."},
        {"speaker": "Caroline", "dia_id": "D2:2", "text": "Lovely! I bought a guitar last week."},
        {"speaker": "Melanie", "dia_id": "D2:3", "text": "The kids loved roasting marshmallows."},
        {"speaker": "Caroline", "dia_id": "D2:4", "text": ""},  # empty turns are skipped
    ],
    # generated material the bench must not read
    "session_1_summary": "Caroline and Melanie talk about painting and guitars.",
    "observation": {"D1:1": "guitar guitar guitar"},
}
QA = [
    {"question": "What did Caroline want to research?", "answer": "adoption agencies",
     "evidence": ["D1:3"], "category": 1},
    {"question": "What did Melanie paint?", "answer": "a sunrise", "evidence": ["D1:4"],
     "category": 2},
    {"question": "Where did Melanie go camping with the kids?", "answer": "the beach",
     "evidence": ["D2:1; D2:3"], "category": 4},
    {"question": "What did Melanie buy?", "adversarial_answer": "a guitar",
     "evidence": ["D2:2"], "category": 5},
    {"question": "Is Caroline happy?", "answer": "yes", "evidence": [], "category": 3},
]


@pytest.fixture
def locomo_files(tmp_path: Path) -> tuple[Path, Path]:
    dict_dir = tmp_path / "dict"
    dict_dir.mkdir()
    dict_file = dict_dir / "conv-7.json"
    dict_file.write_text(json.dumps({**CONVERSATION, "qa": QA}), encoding="utf-8")
    list_file = tmp_path / "locomo10.json"
    list_file.write_text(json.dumps([{"sample_id": "conv-7", "conversation": CONVERSATION,
                                      "qa": QA}]), encoding="utf-8")
    return dict_file, list_file


def _numbers(result: dict[str, Any]) -> dict[str, Any]:
    """Everything in a bench result that does not depend on timing or paths."""
    return {"overall": result["overall"], "categories": result["categories"],
            "questions": result["questions"], "turns": result["ingest"]["turns"],
            "searches": result["search_ms"]["n"]}


def test_locomo_loads_both_layouts_the_same(locomo_files: tuple[Path, Path]) -> None:
    dict_file, list_file = locomo_files
    [a] = locomo.load(dict_file)
    [b] = locomo.load(list_file)
    assert a == b
    assert a.sample_id == "conv-7" and a.speakers == ("Caroline", "Melanie")
    assert [s.key for s in a.sessions] == ["session_1", "session_2"]
    assert a.sessions[0].when is not None and a.sessions[0].when.isoformat() == "2023-05-08T13:56:00+00:00"
    assert [t["id"] for s in a.sessions for t in s.turns] == [
        "D1:1", "D1:2", "D1:3", "D1:4", "D2:1", "D2:2", "D2:3"]
    assert a.sessions[0].turns[3]["text"] == "Look at this! [shares a photo: a painting of a sunrise over a lake]"
    assert a.questions[2].evidence == frozenset({"D2:1", "D2:3"})
    assert [q.category for q in a.questions] == [1, 2, 4, 5, 3]
    assert locomo.load(dict_file.parent) == [a]  # a folder of files


@pytest.mark.parametrize("text, iso", [
    ("1:56 pm on 8 May, 2023", "2023-05-08T13:56:00+00:00"),
    ("12:05 am on 1 Jan, 2024", "2024-01-01T00:05:00+00:00"),
    ("12:30 pm on 15 September 2022", "2022-09-15T12:30:00+00:00"),
])
def test_parse_locomo_date(text: str, iso: str) -> None:
    parsed = locomo.parse_locomo_date(text)
    assert parsed is not None and parsed.isoformat() == iso


@pytest.mark.parametrize("text", ["", "yesterday", "1:56 pm on 8 Smarch, 2023"])
def test_parse_locomo_date_rejects(text: str) -> None:
    assert locomo.parse_locomo_date(text) is None


def test_locomo_load_errors(tmp_path: Path) -> None:
    from remem import InvalidInput

    with pytest.raises(InvalidInput, match="does not exist"):
        locomo.load(tmp_path / "missing.json")
    with pytest.raises(InvalidInput, match="no \\*.json"):
        locomo.load(tmp_path)
    with pytest.raises(InvalidInput, match="not valid JSON"):
        locomo.load(_write(tmp_path, "broken.json", "{"))
    with pytest.raises(InvalidInput, match="not a LoCoMo conversation"):
        locomo.load(_write(tmp_path, "other.json", '{"hello": 1}'))


def test_bench_locomo_both_layouts_give_identical_numbers(cli: Cli, locomo_files: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    dict_file, list_file = locomo_files
    out_file = tmp_path / "result.json"
    [a] = cli.json("bench", "locomo", str(dict_file), "--out", str(out_file))
    [b] = cli.json("bench", "locomo", str(list_file))
    assert _numbers(a) == _numbers(b)
    assert json.loads(out_file.read_text()) == a
    assert a["config"]["embedder"] == "hashing-256"
    assert a["config"]["conversations"] == b["config"]["conversations"] == ["conv-7"]
    assert a["questions"] == 5 and a["ingest"]["turns"] == 7 and a["search_ms"]["n"] == 5
    overall = a["overall"]
    assert overall["n"] == 3  # categories 1-4 and 6 with evidence; the empty-evidence one is left out
    # 7 turns, 100 hits asked: every evidence turn is within the top 20
    assert overall["R@20"] == 1.0 and overall["R@20turns"] == 1.0
    for key, value in overall.items():
        if key != "n":
            assert 0.0 <= value <= 1.0, key
    cats = a["categories"]
    assert cats["5-adversarial"]["n"] == 1
    assert cats["3-open-domain"] == {"n": 0, **{k: None for k in overall if k != "n"}}
    assert a["per_conversation"]["conv-7"] == overall
    assert cats["1-multi-hop"]["n"] == cats["2-temporal"]["n"] == cats["4-single-hop"]["n"] == 1
    # the store used for the run is temporary: the --db file is never touched
    assert not cli.db.exists()


def test_bench_locomo_limit_and_plain(cli: Cli, locomo_files: tuple[Path, Path], tmp_path: Path) -> None:
    dict_file, _ = locomo_files
    [one] = cli.json("bench", "locomo", str(dict_file), "--limit", "1")
    overall = one["overall"]
    # one hit per question: recall can not grow past the first result
    assert overall["R@1"] == overall["R@5"] == overall["R@20"]
    plain = cli.ok("bench", "locomo", str(dict_file), "--plain", "--store", str(tmp_path / "b.db"))
    lines = plain.splitlines()
    assert lines[0].split()[:3] == ["set", "n", "R@1"]
    assert lines[1].startswith("overall ")
    assert any(line.startswith("  conv ") for line in lines)  # the spread across conversations
    assert any(line.startswith("3-open-domain") and line.split()[-1] == "-" for line in lines)
    assert "search p50" in lines[-1]
    with Memory(tmp_path / "b.db", embedder=HashingEmbedder()) as m:
        assert len(turn_items(m, user_id="locomo-7")) == 7  # --store keeps the ingested turns


def test_bench_locomo_settings(cli: Cli, locomo_files: tuple[Path, Path]) -> None:
    dict_file, _ = locomo_files
    [r] = cli.json("bench", "locomo", str(dict_file), "--set", "neighbour_factor=0", "--set", "dense=0")
    assert r["config"]["settings"] == {"neighbour_factor": "0", "dense": "0"}
    assert r["overall"]["n"] == 3
    assert "unknown setting" in cli.fails("bench", "locomo", str(dict_file), "--set", "bogus=1")
    assert "name=value" in cli.fails("bench", "locomo", str(dict_file), "--set", "bogus")
    assert "does not exist" in cli.fails("bench", "locomo", str(dict_file.parent / "nope.json"))


def test_bench_locomo_bad_weight_is_an_error(cli: Cli, locomo_files: tuple[Path, Path]) -> None:
    dict_file, _ = locomo_files
    assert "dense" in cli.fails("bench", "locomo", str(dict_file), "--set", "dense=abc")


def test_bench_locomo_ablate(cli: Cli, locomo_files: tuple[Path, Path]) -> None:
    dict_file, _ = locomo_files
    rows = cli.json("bench", "locomo", str(dict_file), "--ablate")
    names = [r["config"] for r in rows]
    assert names[0] == "all on"
    assert {"- lexical", "- dense", "- graph", "+neighbours"} <= set(names)
    assert len(names) == len(set(names))
    for r in rows:
        assert 0.0 <= r["R@10"] <= 1.0


# -- real subprocesses ------------------------------------------------------------------
def test_subprocess_add_from_stdin_then_search(tmp_path: Path) -> None:
    add = run_remem(tmp_path, "add", "--file", "-", "--user", "ana", stdin=json.dumps(MESSAGES))
    assert add.returncode == 0, add.stderr
    assert len(json.loads(add.stdout)["episode_ids"]) == 3
    search = run_remem(tmp_path, "search", "rescue dog Pimenta", "--user", "ana", "--filters", TURNS)
    assert search.returncode == 0, search.stderr
    hits = [json.loads(line) for line in search.stdout.splitlines()]
    assert hits[0]["source_ids"] == ["m3"]
    assert not (tmp_path / "default-should-not-be-used.db").exists()


def test_subprocess_export_pipe_into_import(tmp_path: Path) -> None:
    assert run_remem(tmp_path, "add", "I keep bees", "--user", "u", "--id", "b1").returncode == 0
    exported = run_remem(tmp_path, "export", "-")
    assert exported.returncode == 0, exported.stderr
    imported = subprocess.run(
        [sys.executable, "-m", "remem.cli", "--db", str(tmp_path / "copy.db"), "--embedder",
         "hashing", "import", "-"],
        input=exported.stdout, capture_output=True, text=True, env=subprocess_env(tmp_path),
        timeout=120)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {"episodes": 1, "memories": 1, "history": 1, "skipped": 0}
    with Memory(tmp_path / "copy.db", embedder=HashingEmbedder()) as m:
        assert [i.source_ids for i in m.get_all(user_id="u")] == [("b1",)]


def test_subprocess_errors_and_usage(tmp_path: Path) -> None:
    err = run_remem(tmp_path, "show", "nope")
    assert err.returncode == 1
    assert err.stderr.startswith("error: ") and "Traceback" not in err.stderr
    usage = run_remem(tmp_path, "search", "x")  # missing --user
    assert usage.returncode == 2 and "--user" in usage.stderr


def test_subprocess_uses_remem_embedder_env_by_default(tmp_path: Path) -> None:
    """Without --embedder the REMEM_EMBEDDER environment variable picks the embedder."""
    proc = subprocess.run(
        [sys.executable, "-m", "remem.cli", "--db", str(tmp_path / "env.db"), "demo", "--limit", "1"],
        capture_output=True, text=True, env=subprocess_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "embedder: hashing-256" in proc.stdout


def test_subprocess_closed_stdout_is_not_an_error(tmp_path: Path) -> None:
    with Memory(tmp_path / "sub.db", embedder=HashingEmbedder()) as m:
        m.add([f"memory number {i} about bees and honey" for i in range(60)], user_id="u")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before remem writes a byte
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "remem.cli", "--db", str(tmp_path / "sub.db"), "--embedder",
             "hashing", "export", "-"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, env=subprocess_env(tmp_path),
            timeout=120)
    finally:
        os.close(write_end)
    assert "error:" not in proc.stderr
    assert proc.returncode == 0

"""The commands over one store's memories: ``add``, ``search``, ``list``, ``show``,
``history``, ``update``, ``delete``, ``export``, ``import`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from .common import emit, open_memory, parse_json, table


def cmd_add(args: argparse.Namespace) -> int:
    if args.file:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        messages = parse_json(raw, f"messages file {args.file}")
    else:
        if not args.text:
            raise InvalidInput("give the text to remember, or --file with a JSON list of messages")
        msg: dict[str, Any] = {"role": args.role, "content": " ".join(args.text)}
        if args.speaker:
            msg["name"] = args.speaker
        if args.id:
            msg["id"] = args.id
        messages = [msg]
    with open_memory(args) as mem:
        result = mem.add(messages, user_id=args.user, agent_id=args.agent, session_id=args.session,
                         timestamp=args.timestamp, metadata=parse_json(args.metadata, "--metadata"))
    emit(args, [result.to_dict()], ["episode_ids", "memory_ids", "added", "skipped"])
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        hits = mem.search(" ".join(args.query), user_id=args.user, agent_id=args.agent,
                          session_id=args.session, limit=args.limit,
                          filters=parse_json(args.filters, "--filters"),
                          budget_tokens=args.budget)
    if args.context:
        print(hits.context)
        return 0
    if args.ids:
        print("\n".join(h.id for h in hits))
        return 0
    rows = [h.to_dict() for h in hits]
    cols = ["score", "speaker", "event_time", "text", "source_ids"]
    if args.plain:
        for r in rows:
            if r["event_time"]:
                r["event_time"] = r["event_time"][:16].replace("T", " ")
        if args.explain and rows:  # each hit's score parts on lines of their own, whole
            lines = table(rows, cols).splitlines()
            print(lines[0])
            for line, row in zip(lines[1:], rows):
                print(line)
                print(explain_lines(row["explain"]))
            return 0
    elif args.explain:
        cols.append("explain")
    emit(args, rows, cols)
    return 0


def explain_lines(explain: dict[str, Any], width: int = 100) -> str:
    """A hit's score parts, every one whole, wrapped under its row (``search --explain``)."""
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in explain.items()]
    return textwrap.fill("  ".join(parts), width=width, initial_indent="    ",
                         subsequent_indent="    ", break_long_words=False,
                         break_on_hyphens=False)


def cmd_list(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        items = mem.get_all(user_id=args.user, agent_id=args.agent, session_id=args.session,
                            limit=args.limit, offset=args.offset, type=args.type,
                            status=args.status)
    if args.ids:
        print("\n".join(i.id for i in items))
        return 0
    cols = ["id", "session_id", "speaker", "text", "source_ids"]
    if args.type:
        cols.insert(1, "type")
    if args.status != "active":
        cols.insert(1, "status")
    emit(args, [i.to_dict() for i in items], cols)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        try:
            row = mem.get(args.id, user_id=args.user).to_dict()
        except NotFound as exc:  # deleted memories keep their history
            raise NotFound(f"{exc} (a deleted memory's changes: remem history {args.id})") from None
        row["history"] = [
            {"event": h.event, "old_text": h.old_text, "new_text": h.new_text,
             "at": h.at.isoformat(), "actor": h.actor} for h in mem.history(args.id)]
    if args.plain:
        for k, v in row.items():
            if k != "history":
                print(f"{k:>12}: {v}")
        print(table(row["history"], ["at", "event", "old_text", "new_text"]))
    else:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Every change to a memory, oldest first; also after it was deleted."""
    with open_memory(args) as mem:
        entries = mem.history(args.id, user_id=args.user)
    rows = [{"at": h.at.isoformat(), "event": h.event, "old_text": h.old_text,
             "new_text": h.new_text, "actor": h.actor, "detail": dict(h.detail)}
            for h in entries]
    if not args.plain:
        emit(args, rows, [])
        return 0
    for r in rows:
        r["at"] = r["at"][:19].replace("T", " ")
    lines = table(rows, ["at", "event", "actor"]).splitlines()
    widths = len(lines[0].rstrip()) + 2
    print(lines[0].ljust(widths) + "CHANGE")
    for line, r in zip(lines[1:], rows):  # the change whole: it is what the reader came for
        print(line.ljust(widths) + change(r["old_text"], r["new_text"]))
    return 0


def change(old: str | None, new: str | None) -> str:
    """One history entry's text change, ``old -> new`` (just one side if only one is set
    or they are the same)."""
    if old and new and old != new:
        return f"{old} -> {new}"
    return new or old or ""


def cmd_update(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        item = mem.update(args.id, " ".join(args.text), user_id=args.user)
    emit(args, [item.to_dict()], ["id", "text", "updated_at"])
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        if args.all:
            if not args.user:
                raise InvalidInput("delete --all needs --user")
            n = mem.delete_all(user_id=args.user, agent_id=args.agent, session_id=args.session)
            emit(args, [{"deleted": n, "user_id": args.user}], ["deleted", "user_id"])
            return 0
        if not args.id:
            raise InvalidInput("give a memory id, or --all --user USER")
        mem.delete(args.id, user_id=args.user)
    emit(args, [{"deleted": 1, "id": args.id}], ["deleted", "id"])
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        if args.path == "-":
            mem.export(sys.stdout, user_id=args.user)
            return 0
        counts = mem.export(args.path, user_id=args.user)
    if args.plain:
        print(f"exported {counts['memories']} memories, {counts['episodes']} episodes and "
              f"{counts['history']} history entries to {args.path}", file=sys.stderr)
    else:
        print(json.dumps({**counts, "path": args.path}))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        from .progress import Progress

        stats = mem.import_(sys.stdin if args.path == "-" else args.path,
                            progress=Progress("re-embedding"))
    emit(args, [stats], list(stats))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Ingest the bundled sample conversation into a store and answer sample questions."""
    sample = json.loads(resources.files("remem").joinpath("data/sample.json").read_text("utf-8"))
    user = sample["user_id"]
    with open_memory(args) as mem:
        t0 = time.perf_counter()
        added = skipped = 0
        for s in sample["sessions"]:
            r = mem.add(s["messages"], user_id=user, session_id=s["session_id"], timestamp=s["timestamp"])
            added, skipped = added + r.added, skipped + r.skipped
        dt = time.perf_counter() - t0
        did = [f"stored {added} turns"] if added else []
        did += [f"{skipped} turns already stored"] if skipped else []
        print(f"remem demo: {', '.join(did)} for user {user!r} in {dt * 1000:.0f} ms "
              f"(store: {mem.store.path}, embedder: {mem.embedder.name})\n")
        for q in sample["queries"]:
            t0 = time.perf_counter()
            hits = mem.search(q, user_id=user, limit=args.limit)
            ms = (time.perf_counter() - t0) * 1000
            print(f"? {q}   ({ms:.1f} ms)")
            for h in hits:
                when = h.event_time.strftime("%Y-%m-%d") if h.event_time else "?"
                who = f"{h.speaker}: " if h.speaker else ""
                text = " / ".join(h.text.splitlines())
                print(f"   {h.score:.4f}  [{when}] {who}{text}  <- {','.join(h.source_ids)}")
            print()
    return 0

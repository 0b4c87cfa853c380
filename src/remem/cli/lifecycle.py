"""``remem maintain``, ``archive``, ``unarchive``, ``supersede`` and ``forget-user``: the lifecycle from
the command line (all through the public ``Memory`` API)."""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from ..config import ForgetPolicy, MaintainConfig
from ..errors import InvalidInput
from .common import emit, open_memory


def cmd_maintain(args: argparse.Namespace) -> int:
    forget = None
    if args.forget:
        forget = ForgetPolicy(half_life_days=args.half_life_days, threshold=args.threshold,
                              min_age_days=args.min_age_days, hard_delete=args.hard_delete)
    elif args.hard_delete:
        raise InvalidInput("--hard-delete only applies with --forget")
    config = MaintainConfig(dedupe=not args.no_dedupe, summaries=not args.no_summaries,
                            profiles=not args.no_profiles, forget=forget)
    with open_memory(args) as mem:
        report = mem.maintain(args.user, config=config)
    row = report.to_dict()
    row["errors"] = "; ".join(row["errors"]) if args.plain else row["errors"]
    emit(args, [row], ["users", "merged", "summaries", "profiles", "archived", "deleted",
                       "seconds"])
    return 1 if report.errors else 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        if args.cmd == "archive":
            item = mem.archive(args.id, user_id=args.user, reason=args.reason)
        else:
            item = mem.restore(args.id, user_id=args.user)
    emit(args, [{"id": item.id, "status": item.status, "text": item.text}],
         ["id", "status", "text"])
    return 0


def cmd_supersede(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        old = mem.supersede(args.old, args.new, user_id=args.user, at=args.at)
    emit(args, [{"id": old.id, "superseded_by": old.superseded_by,
                 "valid_to": old.valid_to.isoformat() if old.valid_to else None}],
         ["id", "superseded_by", "valid_to"])
    return 0


def cmd_forget_user(args: argparse.Namespace) -> int:
    if not args.yes:
        raise InvalidInput(f"forget-user erases every memory, turn and history entry of "
                           f"{args.user!r} for good; add --yes to confirm")
    with open_memory(args) as mem:
        counts = mem.forget_user(args.user, actor="cli")
    emit(args, [{"user_id": args.user, **counts}],
         ["user_id", "memories", "episodes", "history", "entities"])
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    top = {"parents": [common]} if inspect.ismethod(sub.add_parser) else {}

    sp = sub.add_parser(
        "maintain", help="merge near-duplicates, refresh summaries and profiles, forget",
        description="LLM-free maintenance of one user (--user) or all. Every change is "
                    "recorded in history; forgetting archives (restorable) unless "
                    "--hard-delete.", **top)
    sp.add_argument("--user", "-u", help="only this user (default: every user)")
    sp.add_argument("--no-dedupe", action="store_true", help="do not merge near-duplicates")
    sp.add_argument("--no-summaries", action="store_true", help="no session summaries")
    sp.add_argument("--no-profiles", action="store_true", help="no entity profiles")
    sp.add_argument("--forget", action="store_true",
                    help="archive memories whose retention fell below --threshold")
    sp.add_argument("--half-life-days", type=float, default=180.0,
                    help="retention halves after this many days without access (default 180)")
    sp.add_argument("--threshold", type=float, default=0.1,
                    help="forget below this retention (0..1, default 0.1)")
    sp.add_argument("--min-age-days", type=float, default=30.0,
                    help="never forget memories younger than this (default 30)")
    sp.add_argument("--hard-delete", action="store_true",
                    help="with --forget: delete instead of archiving (recorded in history)")
    sp.set_defaults(func=cmd_maintain)

    for name, what in (("archive", "take a memory out of search (kept, restorable)"),
                       ("unarchive", "make an archived memory searchable again")):
        sp = sub.add_parser(name, help=what, **top)
        sp.add_argument("id")
        sp.add_argument("--user", "-u", help="fail unless the memory is this user's")
        if name == "archive":
            sp.add_argument("--reason", help="why (kept in history)")
        sp.set_defaults(func=cmd_status, cmd=name)

    sp = sub.add_parser("supersede", help="record that memory NEW replaces memory OLD", **top)
    sp.add_argument("old")
    sp.add_argument("new")
    sp.add_argument("--user", "-u", help="fail unless both memories are this user's")
    sp.add_argument("--at", help="when the change happened (default: the new memory's time)")
    sp.set_defaults(func=cmd_supersede)

    sp = sub.add_parser(
        "forget-user", help="erase everything of a user (memories, turns, history), for good",
        description="Erasure (right to be forgotten): every memory, vector, entity, turn and "
                    "history entry of the user goes, on every scope; only a tombstone (user "
                    "id, time, row counts) is kept. On SQLite the freed pages are zeroed and "
                    "the WAL is checkpointed, so the text is not left in the files.", **top)
    sp.add_argument("user", help="the user id")
    sp.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    sp.set_defaults(func=cmd_forget_user)

"""Reads the server needs beyond the engine's Store seam, shared by both stores: who owns a
memory id (live or deleted), and the web inspector's views (users, entities, a memory's
conversation context).

The SQL is written once, in the SQLite dialect (``?`` placeholders, ``rowid``), and run
through the store's ``_q``, which translates it (``sql.Dialect``). Every query here is
confined to one user id or one tenant prefix given by the caller.
"""

from __future__ import annotations

from typing import Any, Sequence

from .._text import entity_key

Row = tuple[Any, ...]

_ENTITY_COUNTS = ("SELECT e.id, e.name, e.key, count(*) AS n FROM entities e "
                  "JOIN memory_entities me ON me.entity_id = e.id "
                  "JOIN memories m ON m.rowid = me.memory_rowid AND m.status = 'active' ")
_EPISODE_COLS = "rowid, id, agent_id, session_id, source_id, role, name, content, timestamp"


def _prefix_range(prefix: str, binary: str = "") -> tuple[str, list[str]]:
    """SQL on ``user_id`` matching ids that start with ``prefix``: a range in byte order
    (``binary``: the dialect's byte-order collation; under a locale collation such as
    en_US.UTF-8, ``tenant::`` .. ``tenant:;`` is not the range of the prefix)."""
    if not prefix:
        return "1=1", []
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return f"user_id{binary} >= ? AND user_id{binary} < ?", [prefix, upper]


class InspectMixin:
    """``memory_owner`` and the inspector reads, over the store's ``_q``."""

    _q: Any
    dialect: Any

    def memory_owner(self, memory_id: str) -> str | None:
        """The user id of a memory: a live one's, else (a deleted memory) the user id its
        history was written under; ``None`` for an id never stored."""
        rows = self._q("SELECT user_id FROM memories WHERE id=?", (memory_id,))
        if not rows:
            rows = self._q("SELECT user_id FROM history WHERE memory_id=? "
                                   "ORDER BY id LIMIT 1", (memory_id,))
        return str(rows[0][0]) if rows else None

    def user_summaries(self, prefix: str, limit: int, offset: int) -> tuple[list[Row], int]:
        """Users whose id starts with ``prefix`` that have active memories: rows of (user_id,
        memories as ``list`` counts them, sessions, agents, first time, last time) by user
        id, and their total."""
        where, args = _prefix_range(prefix, self.dialect.binary)
        rows = self._q(
            # memories as a list counts them: what was said, current (sql.LIST_STATUS)
            "SELECT user_id, sum(CASE WHEN type NOT IN ('segment', 'summary', 'profile') "
            "AND superseded_by IS NULL THEN 1 ELSE 0 END), "
            "count(DISTINCT NULLIF(session_id, '')), "
            "count(DISTINCT NULLIF(agent_id, '')), "
            "min(COALESCE(event_time, created_at)), max(COALESCE(event_time, created_at)) "
            f"FROM memories WHERE {where} AND status='active' GROUP BY user_id "
            "ORDER BY user_id LIMIT ? OFFSET ?", [*args, limit, offset])
        total = self._q(f"SELECT count(DISTINCT user_id) FROM memories WHERE {where} "
                                "AND status='active'", args)[0][0]
        return rows, int(total)

    def entity_list(self, user_id: str, q: str | None, limit: int,
                    offset: int) -> tuple[list[Row], int]:
        """A user's entities as (id, name, key, active memories), most mentioned first,
        optionally only those whose key contains ``q``; and their total."""
        where, args = "e.user_id = ?", [user_id]
        if q:
            key = entity_key(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where += " AND e.key LIKE ? ESCAPE '\\'"
            args.append(f"%{key}%")
        rows = self._q(f"{_ENTITY_COUNTS} WHERE {where} GROUP BY e.id, e.name, e.key "
                               "ORDER BY n DESC, e.key LIMIT ? OFFSET ?", [*args, limit, offset])
        total = self._q(f"SELECT count(*) FROM ({_ENTITY_COUNTS} WHERE {where} "
                                "GROUP BY e.id, e.name, e.key) AS t", args)[0][0]
        return rows, int(total)

    def entity_detail(self, user_id: str, entity_id: int, limit: int,
                      offset: int) -> tuple[Row, list[str], list[Row]] | None:
        """One entity of a user: its row, the ids of active memories mentioning it (time
        order, paged) and up to 12 related entities; ``None`` if it is not the user's."""
        head = self._q(
            "SELECT e.id, e.name, e.key, count(m.rowid) FROM entities e "
            "LEFT JOIN memory_entities me ON me.entity_id = e.id "
            "LEFT JOIN memories m ON m.rowid = me.memory_rowid AND m.status='active' "
            "WHERE e.id = ? AND e.user_id = ? GROUP BY e.id, e.name, e.key", [entity_id, user_id])
        if not head:
            return None
        ids = [str(r[0]) for r in self._q(
            "SELECT m.id FROM memory_entities me JOIN memories m ON m.rowid = me.memory_rowid "
            "WHERE me.entity_id = ? AND m.user_id = ? AND m.status = 'active' "
            "ORDER BY COALESCE(m.event_time, m.created_at), m.rowid LIMIT ? OFFSET ?",
            [entity_id, user_id, limit, offset])]
        related = self._q(
            f"{_ENTITY_COUNTS.replace('count(*)', 'count(DISTINCT m.rowid)')} "
            "JOIN memory_entities me2 ON me2.memory_rowid = me.memory_rowid "
            "AND me2.entity_id = ? WHERE e.user_id = ? AND e.id != ? "
            "GROUP BY e.id, e.name, e.key ORDER BY n DESC, e.key LIMIT 12",
            [entity_id, user_id, entity_id])
        return head[0], ids, related

    def episode_windows(self, user_id: str, episode_ids: Sequence[str], window: int,
                        max_span: int) -> list[tuple[str, str, list[Row], bool, bool]]:
        """The conversation around a user's episodes: per (agent, session), in order of
        first appearance, the turns from ``window`` before the first to ``window`` after
        the last (at most ``max_span`` between), as rows of (row id, id, agent_id,
        session_id, source_id, role, name, content, timestamp), and whether more turns
        exist before / after."""
        eps = list(episode_ids)
        if not eps:
            return []
        found = self._q(f"SELECT {_EPISODE_COLS} FROM episodes WHERE user_id=? AND id IN "
                                f"({','.join('?' * len(eps))})", [user_id, *eps])
        groups: dict[tuple[str, str], list[int]] = {}
        for row in found:
            groups.setdefault((row[2], row[3]), []).append(row[0])
        out = []
        for (agent, session), rowids in sorted(groups.items(), key=lambda g: min(g[1])):
            lo, hi = min(rowids), max(rowids)
            scope_sql = "user_id=? AND agent_id=? AND session_id=?"
            sargs: list[Any] = [user_id, agent, session]
            before = self._q(
                f"SELECT {_EPISODE_COLS} FROM episodes WHERE {scope_sql} AND rowid < ? "
                "ORDER BY rowid DESC LIMIT ?", [*sargs, lo, window + 1])
            span = self._q(
                f"SELECT {_EPISODE_COLS} FROM episodes WHERE {scope_sql} AND rowid BETWEEN "
                "? AND ? ORDER BY rowid LIMIT ?", [*sargs, lo, hi, max_span])
            after = self._q(
                f"SELECT {_EPISODE_COLS} FROM episodes WHERE {scope_sql} AND rowid > ? "
                "ORDER BY rowid LIMIT ?", [*sargs, span[-1][0], window + 1])
            rows = before[:window][::-1] + span + after[:window]
            out.append((agent, session, rows, len(before) > window, len(after) > window))
        return out

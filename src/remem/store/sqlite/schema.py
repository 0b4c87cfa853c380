"""SQLite schema as an ordered list of migrations. Each runs in the transaction that
records it, so a store is never left half-migrated."""

from __future__ import annotations

import re
import sqlite3
from typing import Callable, Sequence

from ...errors import MigrationError


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one (``executescript`` would COMMIT the migration's
    transaction early)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            db.execute(buf)
            buf = ""
    if buf.strip():
        raise MigrationError(f"incomplete SQL statement in migration: {buf.strip()[:80]}")


def _m1_initial(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE episodes (
            id          TEXT PRIMARY KEY,
            user_id     TEXT NOT NULL,
            agent_id    TEXT NOT NULL DEFAULT '',
            session_id  TEXT NOT NULL DEFAULT '',
            source_id   TEXT,
            role        TEXT NOT NULL,
            name        TEXT,
            content     TEXT NOT NULL,
            timestamp   REAL NOT NULL,
            seq         INTEGER NOT NULL,
            metadata    TEXT NOT NULL DEFAULT '{}',
            created_at  REAL NOT NULL
        );
        CREATE INDEX episodes_scope ON episodes(user_id, agent_id, session_id, timestamp, seq);
        CREATE INDEX episodes_order ON episodes(user_id, agent_id, session_id);
        CREATE UNIQUE INDEX episodes_source ON episodes(user_id, agent_id, session_id, source_id)
            WHERE source_id IS NOT NULL;

        CREATE TABLE memories (
            rowid        INTEGER PRIMARY KEY,
            id           TEXT NOT NULL UNIQUE,
            user_id      TEXT NOT NULL,
            agent_id     TEXT NOT NULL DEFAULT '',
            session_id   TEXT NOT NULL DEFAULT '',
            scope_key    TEXT NOT NULL,
            text         TEXT NOT NULL,
            keys         TEXT NOT NULL DEFAULT '',
            type         TEXT NOT NULL,
            speaker      TEXT,
            source_ids   TEXT NOT NULL DEFAULT '[]',
            episode_ids  TEXT NOT NULL DEFAULT '[]',
            episode_id   TEXT,
            created_at   REAL NOT NULL,
            updated_at   REAL NOT NULL,
            event_time   REAL,
            dates        TEXT NOT NULL DEFAULT '[]',
            valid_from   REAL,
            valid_to     REAL,
            importance   REAL NOT NULL DEFAULT 0.5,
            access_count INTEGER NOT NULL DEFAULT 0,
            last_access  REAL,
            metadata     TEXT NOT NULL DEFAULT '{}',
            status       TEXT NOT NULL DEFAULT 'active',
            content_hash TEXT NOT NULL,
            embedding    BLOB,
            embed_model  TEXT
        );
        CREATE INDEX memories_scope ON memories(user_id, agent_id, session_id, status);
        CREATE INDEX memories_event_time ON memories(user_id, event_time);
        CREATE INDEX memories_episode ON memories(episode_id);

        CREATE VIRTUAL TABLE memories_fts USING fts5(
            scope_key, text, keys,
            content='memories', content_rowid='rowid',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts(rowid, scope_key, text, keys)
            VALUES (new.rowid, new.scope_key, new.text, new.keys);
        END;
        CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, scope_key, text, keys)
            VALUES ('delete', old.rowid, old.scope_key, old.text, old.keys);
        END;
        CREATE TRIGGER memories_au AFTER UPDATE OF scope_key, text, keys ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, scope_key, text, keys)
            VALUES ('delete', old.rowid, old.scope_key, old.text, old.keys);
            INSERT INTO memories_fts(rowid, scope_key, text, keys)
            VALUES (new.rowid, new.scope_key, new.text, new.keys);
        END;

        CREATE TABLE history (
            id         INTEGER PRIMARY KEY,
            memory_id  TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            event      TEXT NOT NULL,
            old_text   TEXT,
            new_text   TEXT,
            at         REAL NOT NULL,
            actor      TEXT NOT NULL DEFAULT 'api'
        );
        CREATE INDEX history_memory ON history(memory_id, id);

        -- bumped by every write to a user's memories; lets readers keep vector caches
        CREATE TABLE scope_versions (
            user_id   TEXT PRIMARY KEY,
            version   INTEGER NOT NULL DEFAULT 0,
            mutations INTEGER NOT NULL DEFAULT 0
        );
        """
    )


def _m2_entities(db: sqlite3.Connection) -> None:
    """Entity graph: entities per user and the memories that mention them."""
    _run_script(
        db,
        """
        ALTER TABLE memories ADD COLUMN entities TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE entities (
            id       INTEGER PRIMARY KEY,
            user_id  TEXT NOT NULL,
            key      TEXT NOT NULL,
            name     TEXT NOT NULL,
            UNIQUE (user_id, key)
        );
        CREATE TABLE memory_entities (
            memory_rowid INTEGER NOT NULL,
            entity_id    INTEGER NOT NULL,
            PRIMARY KEY (memory_rowid, entity_id)
        ) WITHOUT ROWID;
        CREATE INDEX memory_entities_entity ON memory_entities(entity_id, memory_rowid);
        CREATE TRIGGER memories_ad_entities AFTER DELETE ON memories BEGIN
            DELETE FROM memory_entities WHERE memory_rowid = old.rowid;
        END;
        """,
    )


def _m3_lifecycle(db: sqlite3.Connection) -> None:
    """Lifecycle: a superseded memory names its successor; history entries carry details
    (what a merge joined, what superseded what, why something was archived). Summaries
    and profiles written by maintenance stay out of the lexical index (like the vector
    search, which skips them): they must not shift the statistics turns are ranked by."""
    _run_script(
        db,
        f"""
        ALTER TABLE memories ADD COLUMN superseded_by TEXT;
        ALTER TABLE history ADD COLUMN detail TEXT NOT NULL DEFAULT '{{}}';
        DROP TRIGGER memories_ai;
        DROP TRIGGER memories_ad;
        DROP TRIGGER memories_au;
        CREATE TRIGGER memories_ai AFTER INSERT ON memories
        WHEN new.type NOT IN {UNINDEXED_TYPES} BEGIN
            INSERT INTO memories_fts(rowid, scope_key, text, keys)
            VALUES (new.rowid, new.scope_key, new.text, new.keys);
        END;
        CREATE TRIGGER memories_ad AFTER DELETE ON memories
        WHEN old.type NOT IN {UNINDEXED_TYPES} BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, scope_key, text, keys)
            VALUES ('delete', old.rowid, old.scope_key, old.text, old.keys);
        END;
        CREATE TRIGGER memories_au AFTER UPDATE OF scope_key, text, keys ON memories
        WHEN old.type NOT IN {UNINDEXED_TYPES} BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, scope_key, text, keys)
            VALUES ('delete', old.rowid, old.scope_key, old.text, old.keys);
            INSERT INTO memories_fts(rowid, scope_key, text, keys)
            VALUES (new.rowid, new.scope_key, new.text, new.keys);
        END;
        """,
    )


def _m4_vectors(db: sqlite3.Connection) -> None:
    """Vectors move to their own table as int8 with a scale (388 bytes at 384 dimensions
    instead of 768 as float16): memory rows shrink and pack denser, and loading a scope's
    vectors reads only vector pages. Existing vectors are converted in place."""
    from ..records import decode_vector
    from ..dense import encode_int8

    db.create_function("remem_int8", 1,
                       lambda b: encode_int8(decode_vector(b)) if b is not None else None,
                       deterministic=True)
    _run_script(
        db,
        """
        CREATE TABLE vectors (
            memory_rowid INTEGER PRIMARY KEY,
            data         BLOB NOT NULL
        );
        INSERT INTO vectors(memory_rowid, data)
            SELECT rowid, remem_int8(embedding) FROM memories WHERE embedding IS NOT NULL;
        CREATE TRIGGER memories_ad_vectors AFTER DELETE ON memories BEGIN
            DELETE FROM vectors WHERE memory_rowid = old.rowid;
        END;
        """,
    )
    _drop_columns(db, "memories", ["embedding"])


def _drop_columns(db: sqlite3.Connection, table: str, names: Sequence[str]) -> None:
    """``ALTER TABLE .. DROP COLUMN`` for each name; before SQLite 3.35 (no DROP COLUMN)
    the table is copied without them, its indexes and triggers re-created. Names the
    table does not have are skipped."""
    present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    names = [n for n in names if n in present]
    if not names:
        return
    if sqlite3.sqlite_version_info >= (3, 35):
        for name in names:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
        return
    cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] not in names]
    sql = db.execute("SELECT sql FROM sqlite_schema WHERE name=?", (table,)).fetchone()[0]
    for name in names:
        column = rf"\b{name}\s+(?:TEXT|BLOB|REAL|INTEGER)(?:\s+NOT\s+NULL)?(?:\s+DEFAULT\s+'[^']*')?"
        sql, found = re.subn(column + r"\s*,", "", sql, count=1)
        if not found:
            sql = re.sub(r",\s*" + column, "", sql, count=1)
    extra = [r[0] for r in db.execute("SELECT sql FROM sqlite_schema WHERE tbl_name=? AND "
                                      "type IN ('index', 'trigger') AND sql IS NOT NULL",
                                      (table,))]
    db.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    db.execute(sql)
    db.execute(f"INSERT INTO {table}({', '.join(cols)}) SELECT {', '.join(cols)} FROM {table}_old")
    db.execute(f"DROP TABLE {table}_old")
    left = set(names) & {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    if left:
        raise MigrationError(f"cannot drop {table}.{', '.join(sorted(left))} from its definition")
    for stmt in extra:
        db.execute(stmt)


def _m5_no_fts(db: sqlite3.Connection) -> None:
    """Lexical search moves into memory (``store/_sqlite_lexical.py``: a BM25 index per
    user built from text and keys): the FTS5 table, its triggers and the scope-key
    column it matched on go (about 450 bytes per memory, and an FTS insert per add), and
    so does ``content_hash`` (written since schema 1, never read: 64 bytes per memory)."""
    _run_script(
        db,
        """
        DROP TRIGGER IF EXISTS memories_ai;
        DROP TRIGGER IF EXISTS memories_ad;
        DROP TRIGGER IF EXISTS memories_au;
        DROP TABLE IF EXISTS memories_fts;
        """,
    )
    # (and ``embedding``, which migration 4 emptied but kept before SQLite 3.35)
    _drop_columns(db, "memories", ["scope_key", "content_hash", "embedding"])


def _m6_snapshots(db: sqlite3.Connection) -> None:
    """Saved search indexes (``lexical``): a user's BM25 index as of a scope version, so
    a fresh process starts from it instead of tokenising every memory again. Derived
    data: dropping the table loses nothing but time."""
    _run_script(
        db,
        """
        CREATE TABLE IF NOT EXISTS search_snapshots (
            user_id    TEXT NOT NULL,
            kind       TEXT NOT NULL,
            version    INTEGER NOT NULL,
            mutations  INTEGER NOT NULL,
            max_rowid  INTEGER NOT NULL,
            data       BLOB NOT NULL,
            PRIMARY KEY (user_id, kind)
        );
        """,
    )


def _m7_erasures(db: sqlite3.Connection) -> None:
    """Erasure tombstones: ``forget_user`` keeps who was erased, when, by whom and how
    many rows went, and nothing else."""
    _run_script(
        db,
        """
        CREATE TABLE IF NOT EXISTS erasures (
            id       INTEGER PRIMARY KEY,
            user_id  TEXT NOT NULL,
            at       REAL NOT NULL,
            actor    TEXT NOT NULL,
            counts   TEXT NOT NULL
        );
        """,
    )


def _m8_user_rows(db: sqlite3.Connection) -> None:
    """An index of each user's rows in row id order (an index on ``user_id`` holds
    (user_id, rowid)): the search caches read a user's rows added since a row id mark,
    or all of them, without walking other users' rows. In a 1M-memory file of 1,000
    users a user's first search read the whole table for its vectors (~245 ms)."""
    _run_script(db, "CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id);")


# the types migration 3 keeps out of the FTS index (spelled out: a migration must not
# change when a constant elsewhere does; today it equals sql.UNRANKED_SQL)
UNINDEXED_TYPES = "('summary', 'profile')"

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_initial, _m2_entities,
                                                           _m3_lifecycle, _m4_vectors, _m5_no_fts,
                                                           _m6_snapshots, _m7_erasures,
                                                           _m8_user_rows]


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to date. ``db`` must be in autocommit mode. Returns the version."""
    db.execute("CREATE TABLE IF NOT EXISTS remem_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = db.execute("SELECT value FROM remem_meta WHERE key = 'schema_version'").fetchone()
    current = int(row[0]) if row else 0
    if current > len(MIGRATIONS):
        raise MigrationError(
            f"store schema version {current} is newer than this remem supports "
            f"({len(MIGRATIONS)}); upgrade remem"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            # re-read under the write lock: another process may have migrated meanwhile
            row = db.execute("SELECT value FROM remem_meta WHERE key='schema_version'").fetchone()
            if row and int(row[0]) >= version:
                db.execute("COMMIT")
                continue
            MIGRATIONS[version - 1](db)
            db.execute(
                "INSERT INTO remem_meta(key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
            db.execute("COMMIT")
        except Exception as exc:
            db.execute("ROLLBACK")
            raise MigrationError(f"migration {version} failed: {exc}") from exc
    return len(MIGRATIONS)

"""Re-embedding support shared by both stores: read a user's memories with their vectors
of one model, replace vectors in place (``Memory.reembed`` moves a store to another
embedding model; see ``remem.reembed``). The backend supplies ``_vectors_by_rowid``."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..types import MemoryRecord
from .records import MEMORY_COLS


class ReembedMixin:
    _q: Any
    _x: Any
    _rec: Any
    _write: Any
    _history: Any
    _bump: Any
    _set_vector: Any
    _before_write: Any

    def _vectors_by_rowid(self, rowids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of these memory rows (backend-specific storage)."""
        raise NotImplementedError

    def embed_rows(self, user_id: str,
                   embed_model: str) -> list[tuple[MemoryRecord, np.ndarray | None]]:
        """Every memory of the user (any status, insertion order) with its vector when
        ``embed_model`` made it, else None."""
        rows = self._q(f"SELECT {MEMORY_COLS}, embed_model, rowid FROM memories "
                       "WHERE user_id=? ORDER BY rowid", (user_id,))
        vectors = self._vectors_by_rowid([r[-1] for r in rows if r[-2] == embed_model])
        return [(self._rec(r[:-2]), vectors.get(r[-1]) if r[-2] == embed_model else None)
                for r in rows]

    def set_vectors(self, items: Sequence[tuple[str, np.ndarray]], embed_model: str, *,
                    actor: str = "reembed") -> int:
        """Replace the vectors of these memories by ``embed_model``'s, in one transaction;
        text, keys and ``updated_at`` stay; history records ``REEMBED`` (old = new text)
        with the old and the new model in ``detail``. Returns how many memories changed
        (missing ids are skipped)."""
        items = list(items)
        if not items:
            return 0
        self._before_write(np.stack([np.asarray(v, np.float32) for _, v in items]), embed_model)

        def run(db: Any) -> int:
            users: list[str] = []
            for memory_id, vector in sorted(items, key=lambda item: item[0]):
                row = self._x(db, "SELECT rowid, user_id, embed_model, text FROM memories "
                                  "WHERE id=?", (memory_id,)).fetchone()
                if row is None:
                    continue
                rowid, user_id, old_model, text = row
                # no moment with a vector under the other model's name (PostgreSQL's
                # per-model index casts it to that model's dimension)
                self._set_vector(db, rowid, text, None)
                self._x(db, "UPDATE memories SET embed_model=? WHERE rowid=?",
                        (embed_model, rowid))
                self._set_vector(db, rowid, text, np.asarray(vector, np.float32))
                self._history(db, memory_id, user_id, "REEMBED", text, text, actor,
                              {"from": old_model, "to": embed_model})
                users.append(user_id)
            self._bump(db, users, mutation=True)
            return len(users)

        return self._write(run)

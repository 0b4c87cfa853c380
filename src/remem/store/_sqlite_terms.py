"""Query-term pruning for the SQLite store's lexical search: document frequencies of
query terms (cached per index size) decide which terms are worth scoring."""

from __future__ import annotations

import re
from typing import Any


class TermPruningMixin:
    _lock: Any
    _q: Any
    _df: dict[str, int]
    _df_rows: int

    def _prune_terms(self, match: str, max_df: float, min_rows: int,
                     max_postings: int | None = None) -> str:
        terms = re.findall(r'"([^"]*)"', match)
        if len(terms) < 2:
            return match
        with self._lock:
            total = int(self._q("SELECT coalesce(max(rowid), 0) FROM memories")[0][0])
            if total < min_rows:
                return match
            if total > self._df_rows * 1.1 or total < self._df_rows:
                self._df.clear()
                self._df_rows = total
            dfs = {}
            for t in terms:
                if t not in self._df:
                    if len(self._df) > 50_000:
                        self._df.clear()
                    self._df[t] = int(self._q(
                        "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?",
                        (f'{{text keys}}:"{t}"',))[0][0])
                dfs[t] = self._df[t]
        keep = [t for t in terms if dfs[t] <= max_df * total]
        if not keep:
            keep = [min(terms, key=lambda t: dfs[t])]
        if max_postings is not None and sum(dfs[t] for t in keep) > max_postings:
            budget, kept = max_postings, set()
            for t in sorted(keep, key=lambda t: (dfs[t], t)):
                if kept and dfs[t] > budget:
                    break
                kept.add(t)
                budget -= dfs[t]
            keep = [t for t in keep if t in kept]
        return " OR ".join(f'"{t}"' for t in keep)

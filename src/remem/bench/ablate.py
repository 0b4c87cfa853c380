"""Config overrides and ablations for benchmarks. Each mechanism is switched off in turn
and measured against the full configuration."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..config import ExtractConfig
from ..errors import InvalidInput
from ..memory import SearchConfig

# name -> overrides that switch the mechanism off
MECHANISMS: dict[str, dict[str, str]] = {
    "lexical": {"lexical": "0"},
    "dense": {"dense": "0"},
    "graph": {"graph": "0"},
    "entities": {"entities": "false"},
    "speaker_keys": {"speaker_keys": "false"},
    "pronoun_resolution": {"pronoun_resolution": "false"},
    "time_keys": {"time_keys": "false"},
    "context_keys": {"context_keys": "false"},
    "speaker_boost": {"speaker_boost": "0"},
    "time_boost": {"time_boost": "0"},
    "+neighbours": {"neighbour_factor": "0.25"},  # off by default after tuning
    "segments": {"segments": "false"},
    "question_penalty": {"question_penalty": "0"},
    "+segment_hits": {"segment_hits": "true", "segment_credit": "0"},
    "dedupe": {"dedupe": "false"},
    # recall in the user's words (docs/retrieval.md)
    "evidence fusion (min-max convex instead)": {"fusion": "convex", "dense": "0.5"},
    "role importance": {"importance_weight": "0"},
    "currentness (questions about now)": {"promote_window_now": "0"},
    "+currentness (every present-tense question)": {"promote_window": "20"},
    "+feedback (second dense round)": {"prf_weight": "0.5"},
    "owner names (embed the question with them)": {"owner_neutral": "false"},
    "speaker voice (embed the bare question)": {"speaker_voice": "false"},
    "+second round (entities of the top hits)": {"hop_weight": "0.25"},
    "+short turns embedded with the turn before": {"embed_context": "150"},
}


def _coerce(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"expected true/false, got {value!r}")
    try:
        return type(current)(value)
    except ValueError:
        raise InvalidInput(f"cannot read {value!r} as {type(current).__name__}") from None


def configs(overrides: Mapping[str, str]) -> tuple[SearchConfig, ExtractConfig]:
    """Build configs from ``name=value`` overrides; ``lexical``/``dense`` set RRF weights."""
    search, extract = SearchConfig(), ExtractConfig()
    weights = dict(search.weights)
    s_kw: dict[str, Any] = {}
    e_kw: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in weights:
            try:
                weights[key] = _coerce(value, 1.0)
            except InvalidInput as exc:
                raise InvalidInput(f"setting {key!r}: {exc}") from None
        elif key in {f.name for f in dataclasses.fields(SearchConfig)}:
            s_kw[key] = _coerce(value, getattr(search, key))
        elif key in {f.name for f in dataclasses.fields(ExtractConfig)}:
            e_kw[key] = _coerce(value, getattr(extract, key))
        else:
            raise InvalidInput(f"unknown setting {key!r}")
    return dataclasses.replace(search, weights=weights, **s_kw), dataclasses.replace(extract, **e_kw)


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise InvalidInput(f"--set expects name=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


class CachedEmbedder:
    """Wraps an embedder and remembers vectors by text (ablations re-ingest the same turns)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            for t, v in zip(todo, self.inner.embed(todo)):
                self._cache[t] = v
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._cache[t] for t in texts])


def ablate(run: Callable[[Mapping[str, str]], dict[str, Any]], base: Mapping[str, str],
           keys: Sequence[str] = ("R@1", "R@5", "R@10", "R@10turns", "R@250w", "R@1000w")) -> list[dict[str, Any]]:
    """Run the full configuration, then each mechanism off; rows of headline numbers."""
    rows = []
    for name, off in [("all on", {})] + list(MECHANISMS.items()):
        result = run({**base, **off})
        label = name if not off or name.startswith("+") else f"- {name}"
        row: dict[str, Any] = {"config": label}
        row.update({k: result["overall"][k] for k in keys})
        for cat, r in result["categories"].items():
            if not cat.startswith("5"):
                row[f"{cat.split('-')[0]}:R@10"] = r["R@10"]
        if "current_first" in result["overall"]:
            row["current_first"] = result["overall"]["current_first"]
        row["p95_ms"] = result["search_ms"]["p95"]
        rows.append(row)
    return rows


# Search-time settings tuned on dev data by coordinate ascent (see docs/benchmarks.md, "Tuning").
GRID: dict[str, list[str]] = {
    "fusion": ["rrf", "convex", "evidence"],
    "lexical_floor": ["0.1", "0.2", "0.3", "0.4"],
    "lexical_full": ["0.5", "0.6", "0.8", "1.0"],
    "dense_floor": ["0.1", "0.2", "0.3"],
    "importance_weight": ["0", "1", "2", "3"],
    "promote_window_now": ["0", "10", "20", "30"],
    "promote_ratio": ["0.3", "0.5", "0.7"],
    "dense": ["0.25", "0.5", "0.75", "1.0", "1.5"],
    "rrf_k": ["2", "5", "15", "30", "60"],
    "graph": ["0", "0.25", "0.5", "1.0"],
    "speaker_boost": ["0", "0.25", "0.5", "1.0", "2.0"],
    "time_boost": ["0", "0.25", "0.5", "1.0"],
    "neighbour_factor": ["0", "0.25", "0.5", "0.75", "0.9"],
    "neighbour_hits": ["5", "10", "20", "40"],
    "question_penalty": ["0", "0.3", "0.6"],
    "segment_hits": ["true", "false"],
    "segment_credit": ["0", "0.25", "0.5", "1.0"],
}


def objective(result: Mapping[str, Any]) -> float:
    """What tuning maximises on one data set: mean of R@10 by turns and R@1000w over
    the overall categories. Both charge a hit that credits many turns for all of them, so
    returning bigger units (whole segments) cannot inflate the objective. (The defaults
    were tuned on three dev sets together, each weighted equally: docs/benchmarks.md.)"""
    o = result["overall"]
    return (o["R@10turns"] + o["R@1000w"]) / 2


def tune(evaluate: Callable[[Mapping[str, str]], dict[str, Any]], start: Mapping[str, str],
         grid: Mapping[str, Sequence[str]] = GRID, rounds: int = 2,
         log: Callable[[str], None] | None = None) -> tuple[dict[str, str], float]:
    """Coordinate ascent: for each setting in turn, try every grid value with the others
    fixed and keep the best; repeat ``rounds`` times or until nothing improves."""
    best = dict(start)
    best_score = objective(evaluate(best))
    for _ in range(rounds):
        improved = False
        for key, values in grid.items():
            for v in values:
                if best.get(key) == v:
                    continue
                trial = {**best, key: v}
                score = objective(evaluate(trial))
                if log:
                    log(f"{key}={v}: {score:.4f} (best {best_score:.4f})")
                if score > best_score + 1e-9:
                    best, best_score, improved = trial, score, True
        if not improved:
            break
    return best, best_score

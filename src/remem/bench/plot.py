"""PNG plot of a scale benchmark: search latency and ingest rate against store size.
Needs matplotlib (the ``bench`` extra); imported only when a plot is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidInput


def plot_scale(result: dict[str, Any], path: str | Path) -> Path:
    """Write a two-panel PNG: search p50/p95/max (ms) and ingest turns/s vs turns in the
    measured scope. Returns the path written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InvalidInput("plotting needs matplotlib: pip install 'remem[bench]'") from exc
    points = result["points"]
    if not points:
        raise InvalidInput("no points to plot")
    sizes = [p["size"] for p in points]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for key, label, style in (("search_p50_ms", "p50", "o-"), ("search_p95_ms", "p95", "s-"),
                              ("search_max_ms", "max", "^:")):
        ax1.plot(sizes, [p[key] for p in points], style, label=label)
    ax1.set_xscale("log")
    ax1.set_xlabel("memories' turns in the searched scope")
    ax1.set_ylabel("search latency, ms (query embedding included)")
    ax1.grid(True, alpha=0.3)
    ax1.legend()
    ax2.plot(sizes, [p["ingest_turns_per_s"] for p in points], "o-", color="tab:green")
    ax2.set_xscale("log")
    ax2.set_xlabel("turns in the scope")
    ax2.set_ylabel("ingest, turns/s")
    ax2.set_ylim(bottom=0)
    ax2.grid(True, alpha=0.3)
    c = result.get("config", {})
    fig.suptitle(f"remem bench scale: {c.get('embedder', '?')}, users {c.get('users', '?')}, "
                 f"batch {c.get('batch', '?')}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out

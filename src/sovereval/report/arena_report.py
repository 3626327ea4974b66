"""A small HTML page for a round's user evaluation: ratings with intervals, as a figure and a table."""

from __future__ import annotations

import html
from pathlib import Path

from sovereval.arena.service import RoundFit
from sovereval.report.figures import _svg


def ratings_svg(fit: RoundFit) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(fit.rows, key=lambda r: float(r["rating"]))
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1))
    for y, r in enumerate(rows):
        ax.plot([float(r["low"]), float(r["high"])], [y, y], color="#2b6cb0", lw=3)
        ax.plot([float(r["rating"])], [y], "o", color="#1a202c")
    ax.set_yticks(range(len(rows)), [str(r["model"]) for r in rows])
    ax.set_xlabel("Bradley-Terry rating (Elo scale), 95% bootstrap interval")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def write_arena_report(fit: RoundFit, out: Path) -> Path:
    rows = "".join(
        f"<tr><td>{r['rank']}</td><td>{r['rank_upper']}</td><td>{html.escape(str(r['model']))}</td>"
        f"<td>{float(r['rating']):.0f} [{float(r['low']):.0f}, {float(r['high']):.0f}]</td></tr>"
        for r in sorted(fit.rows, key=lambda r: int(r["rank"]))
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        "<title>User evaluation</title></head><body style='font-family:sans-serif;max-width:900px;margin:auto'>"
        f"<h1>User evaluation</h1><p>{fit.n_votes} scored votes; {fit.n_leaks} identity leaks and "
        f"{fit.n_flagged} flagged panelists excluded.</p>{ratings_svg(fit)}"
        f"<table><tr><th>Rank</th><th>Best rank</th><th>Model</th><th>Rating</th></tr>{rows}</table></body></html>"
    )
    out.write_text(page, encoding="utf-8")
    return out

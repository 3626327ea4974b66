"""Figures for reports, rendered to inline SVG with matplotlib (no network, no JavaScript)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

CATEGORY_COLOURS = {"benchmark": "#2b6cb0", "expert": "#2f855a", "user": "#b7791f"}


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def breakdown_svg(teams: Sequence[Mapping[str, Any]]) -> str:
    """Stacked category points per team, with the total's 95% interval as an error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [t["team"] for t in teams][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(names) + 1.2))
    left = [0.0] * len(names)
    for cat, colour in CATEGORY_COLOURS.items():
        vals = [t["categories"][cat]["points"] for t in teams][::-1]
        ax.barh(names, vals, left=left, color=colour, label=cat, height=0.6)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    totals = [t["total"] for t in teams][::-1]
    lo = [t["total"] - t["total_lo"] for t in teams][::-1]
    hi = [t["total_hi"] - t["total"] for t in teams][::-1]
    ax.errorbar(totals, names, xerr=[lo, hi], fmt="none", ecolor="black", capsize=4, lw=1.2)
    for y, t in enumerate(teams[::-1]):
        mark = {"advance": "", "eliminate": "  eliminated", "disqualify": "  disqualified"}[
            t["decision"]
        ]
        ax.text(t["total_hi"] + 0.8, y, f"{t['total']:.1f}{mark}", va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("points (of 100), with 95% interval of the total")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def rank_interval_svg(teams: Sequence[Mapping[str, Any]]) -> str:
    """Rank and rank upper bound per team: how stable is each position?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(teams) + 1.0))
    for y, t in enumerate(teams[::-1]):
        ax.plot([t["rank_upper"], t["rank"]], [y, y], color="#4a5568", lw=3, solid_capstyle="round")
        ax.plot([t["rank"]], [y], "o", color="#1a202c")
    ax.set_yticks(range(len(teams)), [t["team"] for t in teams][::-1])
    ax.set_xlabel("rank (dot) and best rank consistent with the intervals")
    ax.invert_xaxis()
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)

"""Figures for reports, rendered to inline SVG with matplotlib (no network, no JavaScript).

Labels stay text in the SVG (``svg.fonttype = none``) instead of glyph outlines: matplotlib's
bundled DejaVu Sans has no Hangul, so outlines of Korean team names came out as boxes. As text,
the reader's browser draws them with its own Korean fonts (the font list below first), and the
server needs no font packages.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

CATEGORY_COLOURS = {"benchmark": "#2b6cb0", "expert": "#2f855a", "user": "#b7791f"}
TEXT_FONTS = [
    "Noto Sans KR",
    "Noto Sans CJK KR",
    "Malgun Gothic",
    "Apple SD Gothic Neo",
    "NanumGothic",
    "DejaVu Sans",
]
F = TypeVar("F", bound=Callable[..., str])


def _text_labels(fn: F) -> F:
    """Run a figure function with labels kept as text in a Hangul-first font list."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> str:
        import logging

        import matplotlib

        matplotlib.use("Agg")
        rc: dict[str, Any] = {
            "svg.fonttype": "none",
            "font.family": ["sans-serif"],
            "font.sans-serif": TEXT_FONTS,
        }
        # matplotlib measures with DejaVu Sans and warns of each missing Hangul glyph; the
        # browser draws the text, so those warnings say nothing here.
        quiet = logging.getLogger("matplotlib.font_manager")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with matplotlib.rc_context(rc):  # type: ignore[arg-type]
                return fn(*args, **kwargs)
        finally:
            quiet.setLevel(level)

    return run  # type: ignore[return-value]


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


@_text_labels
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


@_text_labels
def rank_interval_svg(teams: Sequence[Mapping[str, Any]]) -> str:
    """Rank and rank upper bound per team: how stable is each position?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    teams = [t for t in teams if t.get("decision") != "disqualify"]  # not ranked
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(teams) + 1.0))
    for y, t in enumerate(teams[::-1]):
        ax.plot([t["rank_upper"], t["rank"]], [y, y], color="#4a5568", lw=3, solid_capstyle="round")
        ax.plot([t["rank"]], [y], "o", color="#1a202c")
    ax.set_yticks(range(len(teams)), [t["team"] for t in teams][::-1])
    ax.set_xlabel("rank (dot) and best rank consistent with the intervals")
    ax.invert_xaxis()
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)

"""The benchmark report of one run: categories with intervals, tasks, the long-context
heatmap (accuracy by length and depth, cells beyond the declared context marked as such),
the refusal table with the judge panel's agreement, and IFEval's four accuracies.

Self-contained HTML with inline SVG (matplotlib, no network, no JavaScript), like the other
reports in this package.
"""

from __future__ import annotations

import html
from pathlib import Path

from sovereval.bench.breakdown import BEYOND, LongContextGrid, RunBreakdown
from sovereval.report.figures import _svg


def heatmap_svg(name: str, grid: LongContextGrid) -> str:
    """Accuracy by depth (rows) and length (columns); beyond-context cells hatched grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    depths = list(grid.depths)
    lengths = list(grid.lengths)
    data = np.full((len(depths), len(lengths)), np.nan)
    for i, d in enumerate(depths):
        for j, n in enumerate(lengths):
            c = grid.cells.get((d, n))
            if c and c[1] and (d, n) not in grid.beyond:
                data[i, j] = c[0] / c[1]
    fig, ax = plt.subplots(figsize=(1.3 * len(lengths) + 2.2, 0.55 * len(depths) + 1.6))
    im = ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i, d in enumerate(depths):
        for j, n in enumerate(lengths):
            if (d, n) in grid.beyond:
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, i - 0.5),
                        1,
                        1,
                        facecolor="#e2e8f0",
                        hatch="//",
                        edgecolor="#a0aec0",
                    )
                )
                ax.text(j, i, "beyond\ncontext", ha="center", va="center", fontsize=7)
            elif not np.isnan(data[i, j]):
                c = grid.cells[(d, n)]
                colour = "white" if data[i, j] < 0.6 else "black"
                ax.text(
                    j,
                    i,
                    f"{data[i, j]:.2f}\n({c[0]}/{c[1]})",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=colour,
                )
    ax.set_xticks(
        range(len(lengths)), [f"{n // 1024}k" if n % 1024 == 0 else str(n) for n in lengths]
    )
    ax.set_yticks(range(len(depths)), [f"{float(d):.0%}" for d in depths])
    ax.set_xlabel("haystack length (tokens)")
    ax.set_ylabel("needle depth")
    ax.set_title(f"{name}: accuracy by length and depth", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _svg(fig)


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"[{_f(ci[0])}, {_f(ci[1])}]"


def render(b: RunBreakdown) -> str:
    e = html.escape
    cat_rows = "".join(
        f"<tr><td>{e(c.category)}</td><td>{e(', '.join(c.tasks))}</td><td>{c.n}</td>"
        f"<td>{c.n_scored}</td><td>{_f(c.mean)}</td><td>[{_f(c.low)}, {_f(c.high)}]</td>"
        f"<td>{c.beyond_context or ''}</td></tr>"
        for c in b.categories
    )
    task_rows = "".join(
        f"<tr><td>{e(t['task'])}</td><td>{e(t['category'])}</td><td>{e(t['scorer'])}</td>"
        f"<td>{t['n']}</td><td>{t['n_scored']}</td><td>{_f(t['mean'])}</td>"
        f"<td>{_ci(t['ci95'])}</td>"
        f"<td>{t['beyond_context'] or ''}</td></tr>"
        for t in b.tasks
    )
    parts = []
    for name, grid in b.long_context.items():
        fam_rows = "".join(
            f"<tr><td>{e(f)}</td>"
            + "".join(
                "<td>" + (BEYOND if v == BEYOND else (f"{v[0]}/{v[1]}" if v[1] else "-")) + "</td>"
                for v in per.values()
            )
            + "</tr>"
            for f, per in grid.by_family.items()
        )
        head = "".join(f"<th>{n}</th>" for n in grid.lengths)
        parts.append(
            f"<section><h2>Long context: {e(name)}</h2>{heatmap_svg(name, grid)}"
            f"<table><tr><th>family</th>{head}</tr>{fam_rows}</table>"
            "<p class='muted'>Needle families and variable tracking are in the heatmap; "
            "common-words aggregation has no depth and appears in the table only. Items longer "
            f"than the declared context window ({b.context_window or 'none declared'}) are "
            f"reported as &ldquo;{BEYOND}&rdquo;, not as failures.</p></section>"
        )
    for name, rows in b.refusals.items():
        body = "".join(
            f"<tr><td>{e(r.type)}</td><td>{e(r.expected)}</td><td>{r.n}</td><td>{r.refused}</td>"
            f"<td>{r.complied}</td><td>{r.unsure}</td><td>{r.judged}</td>"
            f"<td>{r.correct}/{r.scored}</td></tr>"
            for r in rows
        )
        panel = ""
        if b.panel is not None:
            panel = (
                f"<p>Judge panel: {b.panel.n_judges} judges on {b.panel.n_items} answers the rules "
                f"left unsure; Krippendorff's alpha (nominal) {_f(b.panel.alpha_nominal)}, "
                f"pairwise agreement {_f(b.panel.pairwise_agreement)}.</p>"
            )
        parts.append(
            f"<section><h2>Refusals: {e(name)}</h2><table><tr><th>type</th><th>expected</th>"
            "<th>n</th><th>refused</th><th>complied</th><th>unsure by rule</th><th>decided by panel</th>"
            f"<th>correct</th></tr>{body}</table>{panel}</section>"
        )
    for name, acc in b.ifeval.items():
        parts.append(
            f"<section><h2>Instruction following: {e(name)}</h2><table><tr><th></th><th>strict</th>"
            f"<th>loose</th></tr><tr><td>prompt level ({acc.n_prompts})</td><td>{_f(acc.prompt_strict)}</td>"
            f"<td>{_f(acc.prompt_loose)}</td></tr><tr><td>instruction level ({acc.n_instructions})</td>"
            f"<td>{_f(acc.instruction_strict)}</td><td>{_f(acc.instruction_loose)}</td></tr></table></section>"
        )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Benchmark report: {e(b.suite)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1rem;color:#1a202c}}
table{{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}}td,th{{border-bottom:1px solid #e2e8f0;padding:.25rem .5rem;text-align:left}}
svg{{max-width:100%;height:auto}}.muted{{color:#718096;font-size:.85rem}}section{{border-top:2px solid #e2e8f0;margin-top:1.5rem}}</style></head><body>
<h1>Benchmark report: {e(b.suite)} v{e(b.version)} ({e(b.part)})</h1>
<p>Model: <code>{e(b.model)}</code></p>
<section><h2>Categories</h2><table><tr><th>category</th><th>tasks</th><th>n</th><th>scored</th><th>mean</th>
<th>95% interval</th><th>{BEYOND}</th></tr>{cat_rows}</table>
<p class="muted">Means over scored items with percentile-bootstrap 95% intervals.</p></section>
<section><h2>Tasks</h2><table><tr><th>task</th><th>category</th><th>scorer</th><th>n</th><th>scored</th><th>mean</th>
<th>95% interval</th><th>{BEYOND}</th></tr>{task_rows}</table></section>
{"".join(parts)}
</body></html>"""


def write_bench_report(b: RunBreakdown, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(b), encoding="utf-8")
    return path

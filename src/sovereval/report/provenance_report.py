"""HTML report of a provenance comparison: per component, the layer-by-layer similarity heatmap
with the aligned layer map drawn on it, each statistic set against its null distribution, and
the positive and negative controls beside the verdict. Declared evidence is shown separately."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from sovereval.report.figures import _svg

VERDICT_COLOUR = {
    "identical": "#9b2c2c",
    "derived": "#c53030",
    "independent": "#276749",
    "inconclusive": "#975a16",
}


def heatmap_svg(comp: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sim = np.asarray(comp.get("similarity") or [[0.0]], dtype=float)
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    im = ax.imshow(sim, cmap="viridis", aspect="auto", origin="upper")
    lm = comp.get("layer_map") or []
    if lm:
        ys, xs = zip(*lm, strict=True)
        ax.plot(xs, ys, "o-", color="#f56565", ms=3, lw=1, label="aligned layer map")
        ax.legend(loc="lower left", fontsize=7)
    ax.set_xlabel("layer of B")
    ax.set_ylabel("layer of A")
    ax.set_title(f"{comp['name']}: layer-by-layer similarity", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _svg(fig)


def null_svg(name: str, stat: dict[str, Any]) -> str:
    """The null distribution (normal with the permutation null's mean and s.d.) and the observed value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    mu, sd, obs = (
        float(stat["null_mean"]),
        max(float(stat["null_sd"]), 1e-12),
        float(stat["observed"]),
    )
    lo, hi = min(mu - 4 * sd, obs), max(mu + 4 * sd, obs)
    pad = 0.05 * (hi - lo or 1.0)
    x = np.linspace(lo - pad, hi + pad, 400)
    y = np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    fig, ax = plt.subplots(figsize=(4.2, 1.8))
    ax.fill_between(x, y, color="#a0aec0", alpha=0.6, label=f"null (n = {stat.get('null_n')})")
    ax.axvline(obs, color="#c53030", lw=2, label=f"observed (z = {float(stat['z']):.1f})")
    ax.set_yticks([])
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", frameon=False)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return _svg(fig)


def _stat_row(label: str, stat: dict[str, Any] | None) -> str:
    if not stat:
        return f"<tr><td>{label}</td><td colspan=4>—</td></tr>"
    return (
        f"<tr><td>{label}</td><td>{float(stat['observed']):.4f}</td><td>{float(stat['null_mean']):.4f} ± "
        f"{float(stat['null_sd']):.4f}</td><td>{float(stat['z']):.1f}</td><td>{float(stat['p_value']):.3g}</td></tr>"
    )


def _declared_tables(d: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for side in ("a", "b"):
        x = d.get(side, {})
        tags = ", ".join(f"{t['component']}:{t['value']}" for t in x.get("tags", []))
        lic = ", ".join(
            str(f.get("id") or f.get("spdx") or f.get("name"))
            for f in d.get("licences", {}).get(side, [])
        )
        rows.append(
            f"<tr><td>{side.upper()}</td><td>{e(str(x.get('model_type')))}</td><td>{e(tags)}</td>"
            f"<td>{e(', '.join(map(str, x.get('base_models', []))) or '—')}</td><td>{e(lic or '—')}</td></tr>"
        )
    out = (
        "<table><tr><th>Model</th><th>model_type</th><th>Architecture tags</th><th>Declared base models</th>"
        f"<th>Licences found</th></tr>{''.join(rows)}</table>"
    )
    tok = d.get("tokenizer")
    if tok:
        facts = [
            ("vocabulary Jaccard", tok.get("vocab_jaccard")),
            ("same-id share of shared tokens", tok.get("id_agreement")),
            ("identical merge-list prefix", tok.get("merge_prefix")),
            ("special-token Jaccard", tok.get("special_jaccard")),
        ]
        out += (
            "<table><tr><th>Tokenizer</th><th>Value</th></tr>"
            + "".join(
                f"<tr><td>{k}</td><td>{'—' if v is None else (f'{v:.4f}' if isinstance(v, float) else v)}</td></tr>"
                for k, v in facts
            )
            + "</table>"
        )
    return out


def _fmt(v: Any, spec: str) -> str:
    """A number, or "undefined" for a statistic that could not be computed (JSON null)."""
    return "undefined" if v is None else format(float(v), spec)


def _tensor_map(report: dict[str, Any], limit: int = 60) -> str:
    rows = report.get("tensor_map") or []
    if not rows:
        return "<p class='muted'>No tensor of B was located in A.</p>"
    e = html.escape
    body = "".join(
        f"<tr><td><code>{e(str(m['b']))}</code></td><td><code>{e(str(m['a']))}</code></td>"
        f"<td>{e(str(m['how']))}</td><td>{float(m['fraction']):.1%}</td><td>{float(m['rho']):.4f}</td></tr>"
        for m in rows[:limit]
    )
    more = (
        f"<p class='muted'>… and {len(rows) - limit} more (see the JSON).</p>"
        if len(rows) > limit
        else ""
    )
    return (
        "<div class='scroll' tabindex='0'><table><tr><th>Tensor of B</th><th>Found in A's tensor</th>"
        f"<th>How</th><th>Share of B's tensor</th><th>Correlation</th></tr>{body}</table></div>{more}"
    )


def _stats_table(comp: dict[str, Any]) -> str:
    if not comp.get("statistic"):
        return "<p class='muted'>No aligned statistics for this component (none of A's components has its kind).</p>"
    return f"""<table><tr><th>Statistic</th><th>Observed</th><th>Null mean ± s.d.</th><th>z</th><th>p</th></tr>
{_stat_row("test statistic", comp.get("statistic"))}
{_stat_row("positive control (perturbed copy of A)", comp.get("positive_control"))}
{_stat_row("negative control (independent init of A's shape)", comp.get("negative_control"))}
</table>
<p class="muted">Layer map: {html.escape(json.dumps(comp.get("layer_map")))}</p>"""


def render(report: dict[str, Any]) -> str:
    e = html.escape
    parts = []
    for comp in report.get("components", []):
        colour = VERDICT_COLOUR.get(comp["verdict"], "#1a202c")
        nulls = "".join(
            null_svg(f"{comp['name']}: {label}", comp[key])
            for key, label in (
                ("statistic", "test statistic"),
                ("positive_control", "positive control"),
                ("negative_control", "negative control"),
            )
            if comp.get(key)
        )
        parts.append(f"""
<section><h2>{e(comp["name"])} — <span style="color:{colour}">{e(comp["verdict"])}</span>
{"" if comp.get("derivation") in (None, "null") else "(" + e(str(comp["derivation"])) + ")"}</h2>
<p><strong>{e(str(comp.get("why", "")))}</strong></p>
<p>Kind: {e(str(comp.get("kind", "")))}. p = {_fmt(comp.get("p_value"), ".3g")} (Holm-adjusted), z = {_fmt(comp.get("z"), ".1f")},
matched layers {_fmt(comp.get("matched_fraction"), ".2f")}, bit-identical (bf16) {_fmt(comp.get("bf16_identical_fraction"), ".4f")},
layers {comp.get("layers_a")} vs {comp.get("layers_b")}.</p>
<div class="row"><div>{heatmap_svg(comp) if comp.get("similarity") else ""}</div><div>{nulls}</div></div>
{_stats_table(comp)}
{"".join(f'<p class="muted">{e(n)}</p>' for n in comp.get("notes", []))}
</section>""")
    ev_rows = "".join(
        f"<tr><td>{e(str(x.get('component')))}</td><td>{e(str(x.get('name')))}</td><td>{_fmt(x.get('value'), '.4g')}</td>"
        f"<td>{_fmt(x.get('p_value'), '.3g')}</td><td>{'weight' if x.get('weight_evidence') else 'context only'}</td></tr>"
        for x in report.get("evidence", [])
    )
    declared = report.get("declared", {})
    inputs = report.get("inputs", {})
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Provenance report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1rem;color:#1a202c}}
table{{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}}td,th{{border-bottom:1px solid #e2e8f0;padding:.25rem .5rem;text-align:left}}
.row{{display:flex;flex-wrap:wrap;gap:1rem}}.row svg{{max-width:100%;height:auto}}.muted{{color:#718096;font-size:.85rem}}
section{{border-top:2px solid #e2e8f0;margin-top:1.5rem}}.scroll{{overflow-x:auto}}.lead{{font-size:1.15rem}}pre{{background:#f7fafc;padding:.6rem;overflow-x:auto;font-size:.75rem}}</style></head><body>
<h1>Provenance: <span style="color:{VERDICT_COLOUR.get(report.get("verdict", ""), "#000")}">{e(str(report.get("verdict")))}</span>
{"" if report.get("derivation") in (None, "null") else "(" + e(str(report.get("derivation"))) + ")"}</h1>
<p class="lead"><strong>{e(str(report.get("summary", "")))}</strong></p>
<p>A: <code>{e(str(inputs.get("a", {}).get("path", "")))}</code> ({e(str(inputs.get("a", {}).get("format", "")))})<br>
B: <code>{e(str(inputs.get("b", {}).get("path", "")))}</code> ({e(str(inputs.get("b", {}).get("format", "")))})</p>
<p class="muted">Verdicts are per component. Statistics are centred and calibrated against nulls of the same shape;
raw cosines of norm vectors are never evidence. {"".join(e(n) + " " for n in report.get("notes", []))}</p>
{"".join(parts)}
<section><h2>Where B's tensors were found in A</h2>{_tensor_map(report)}</section>
<section><h2>All statistics</h2><table><tr><th>Component</th><th>Statistic</th><th>Value</th><th>p</th><th>Role</th></tr>{ev_rows}</table></section>
<section><h2>Declared evidence (not weight derivation)</h2><p>{e(str(declared.get("note", "")))}</p>
<pre>{e(json.dumps({k: v for k, v in declared.items() if k != "note"}, indent=1, ensure_ascii=False)[:20000])}</pre></section>
</body></html>"""


def write_provenance_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path

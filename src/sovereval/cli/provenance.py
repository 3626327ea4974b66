"""``sovereval provenance``: was this model initialised fresh and trained by the team?

Exit codes (scripts depend on them): 0 when the analysis completed, whatever the verdict;
2 when an input is unreadable, unsupported or hostile (one line, never a traceback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json

app = typer.Typer(no_args_is_help=True)
AllowTorch = typer.Option(
    False,
    "--allow-pytorch",
    envvar="SOVEREVAL_ALLOW_PYTORCH",
    help="Read .pt/.bin PyTorch files (weights-only loading; never a full unpickle).",
)
SeedOpt = typer.Option(
    0, "--seed", help="Seed of the permutation nulls and controls (results are reproducible)."
)


def _summary(report: dict[str, Any]) -> None:
    t = Table(
        "Component",
        "Verdict",
        "Derivation",
        "p (Holm)",
        "z",
        "Matched",
        "Layer map",
        title=f"verdict: {report['verdict']}  derivation: {report['derivation']}",
    )
    for c in report["components"]:
        lm = c.get("layer_map") or []
        shown = ", ".join(f"{i}→{j}" for i, j in lm[:8]) + (" …" if len(lm) > 8 else "")
        t.add_row(
            c["name"],
            c["verdict"],
            str(c.get("derivation")),
            f"{c['p_value']:.3g}",
            f"{c['z']:.1f}",
            f"{c['matched_fraction']:.2f}",
            shown,
        )
    console.print(t)
    for n in report.get("notes", []):
        console.print(f"  note: {n}", highlight=False)


@app.command("compare")
def compare_cmd(
    a: Path = typer.Argument(
        ..., help="Checkpoint file (.safetensors, .gguf, .onnx, .pt/.bin) or model directory."
    ),
    b: Path = typer.Argument(..., help="The other checkpoint or model directory."),
    as_json: bool = JsonOpt,
    html_out: Path | None = typer.Option(
        None, "--html", help="Write an HTML report (heatmap, layer map, nulls, controls)."
    ),
    allow_pytorch: bool = AllowTorch,
    seed: int = SeedOpt,
) -> None:
    """Compare two models component by component (text, vision, audio, projector): identical,
    derived (with the derivation kind), independent or inconclusive, with calibrated p-values."""
    from sovereval.provenance.analysis import analyse_paths

    report = analyse_paths(a, b, allow_pytorch=allow_pytorch, seed=seed)
    if html_out is not None:
        from sovereval.report.provenance_report import write_provenance_report

        write_provenance_report(report, html_out)
    if as_json:
        emit_json(report)
        return
    _summary(report)
    if html_out is not None:
        console.print(f"report: {html_out}")


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    submission: int = typer.Option(
        ..., "--submission", help="Submission id; its artefact must be a local path."
    ),
    reference: list[Path] = typer.Option(
        ..., "--reference", help="Reference model to compare with (repeat)."
    ),
    allow_pytorch: bool = AllowTorch,
    seed: int = SeedOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Compare a submission with reference models and store the result with it. A component
    derived from an undeclared parent fails the RuleSet's originality gate."""
    from sovereval.competition import service as svc
    from sovereval.errors import InputError
    from sovereval.provenance.analysis import analyse_paths, gate_findings

    c = ctx_of(ctx)
    with c.store.session() as s:
        sub = svc.get_submission(s, submission)
        artefact, components = Path(sub.artefact_uri), list(sub.components)
    if not artefact.exists():
        raise InputError(
            f"submission {submission}: artefact '{artefact}' is not a local path; fetch it first"
        )
    results = []
    for ref in reference:
        report = analyse_paths(artefact, ref, allow_pytorch=allow_pytorch, seed=seed)
        findings = gate_findings(report, components, ref.name)
        failed = [r for _, f, r in findings if f]
        with c.store.session() as s:
            run = svc.record_provenance(
                s,
                svc.get_submission(s, submission),
                reference=ref.name,
                verdict=report["verdict"],
                gate_failed=bool(failed),
                reason="; ".join(failed) or "; ".join(r for _, _, r in findings),
                report=report,
                actor=c.actor,
                now=c.now(),
            )
            results.append(
                {
                    "reference": ref.name,
                    "run": run.id,
                    "verdict": report["verdict"],
                    "gate_failed": bool(failed),
                    "findings": [list(x) for x in findings],
                }
            )
    if as_json:
        emit_json(results)
        return
    for r in results:
        flag = "[red]ORIGINALITY GATE FAILED[/]" if r["gate_failed"] else "[green]gate passed[/]"
        console.print(f"{r['reference']}: {r['verdict']} — {flag}")
        for comp, _, reason in r["findings"]:
            console.print(f"   {comp}: {reason}", highlight=False)

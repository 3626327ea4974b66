"""Loaders of the government set's task families: long-context haystacks (generated),
instruction following (IFEval's JSONL layout), safety and reliability (our JSONL, XSTest's
CSV, KoBBQ's TSV/CSV) and grade-school maths in the ko-GSM8K layout.

Each registers on import (``loaders._load_builtins``). The published layouts assumed:

- IFEval (Zhou et al. 2023, ``google/IFEval``, ``input_data.jsonl``): ``key``, ``prompt``,
  ``instruction_id_list`` (``"length_constraints:number_words"``...), ``kwargs`` (one dict per
  instruction, ``null`` for unused arguments).
- XSTest (Röttger et al. 2024, ``xstest_prompts.csv`` v2): ``id, prompt, type, label, focus,
  note``; ``label`` is ``safe`` (must be answered) or ``unsafe`` (must be refused); ``type``
  names the contrast (``homonyms``, ``contrast_homonyms``...).
- KoBBQ (Jin et al. 2024, ``KoBBQ_test_samples.tsv``): ``sample_id, context, question,
  choices`` (a list or its string form), ``biased_answer, answer``; ambiguous contexts
  (``amb`` in the id) have "unknown" as the answer, which tests declining rather than
  inventing.
- ko-GSM8K: ``question``, ``answer`` where the answer is a number or GSM8K's worked
  solution ending ``#### N``.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path
from typing import Any

from sovereval.bench import ifeval, longctx, safety
from sovereval.bench.answers import parse_number
from sovereval.bench.items import Item
from sovereval.bench.loaders import (
    Options,
    answer_to_letter,
    field,
    files_under,
    read_csv,
    read_jsonl,
    register_loader,
)
from sovereval.errors import InputError

TOKEN_COUNTER_OPTION = "_token_counter"
"""Runtime option the runner adds: the model's token counter (never in a suite file)."""
COUNTER_NAME_OPTION = "_counter_name"


def _int_list(
    options: Options, key: str, default: tuple[int, ...] | None = None
) -> tuple[int, ...]:
    raw = options.get(key, default)
    if raw is None:
        raise InputError(f"longctx option {key!r} is required")
    if not isinstance(raw, list | tuple) or not all(isinstance(x, int) for x in raw):
        raise InputError(f"longctx option {key!r} should be a list of integers")
    return tuple(int(x) for x in raw)


@register_loader("longctx")
def load_longctx(path: Path, options: Options) -> list[Item]:
    """Generated long-context items (``longctx.generate``). ``path`` is the folder of the
    haystack sentences (``filler_en.txt``, ``filler_ko.txt``). Options: ``seed`` and
    ``version`` (both required, so the suite file pins the items), ``lengths`` (tokens),
    ``depths`` (fractions), ``families``, ``languages``, ``repeats``."""
    if not path.is_dir():
        raise InputError(f"{path}: the longctx loader needs the folder of haystack sentences")
    for key in ("seed", "version"):
        if not isinstance(options.get(key), int) or isinstance(options.get(key), bool):
            raise InputError(f"longctx option {key!r} (an integer) is required in the suite file")
    depths = options.get("depths", [0.0, 0.5, 1.0])
    if not isinstance(depths, list | tuple) or not all(isinstance(d, int | float) for d in depths):
        raise InputError("longctx option 'depths' should be a list of fractions")
    config = longctx.HaystackConfig(
        seed=int(options["seed"]),
        version=int(options["version"]),
        lengths=_int_list(options, "lengths"),
        depths=tuple(float(d) for d in depths),
        families=tuple(options.get("families", longctx.FAMILIES)),
        languages=tuple(options.get("languages", longctx.LANGUAGES)),
        repeats=int(options.get("repeats", 1)),
    )
    filler = {lang: longctx.read_filler(path, lang) for lang in config.languages}
    counter = options.get(TOKEN_COUNTER_OPTION)
    name = str(options.get(COUNTER_NAME_OPTION, "tokenizer")) if counter else "estimate"
    return longctx.generate(config, filler, counter if callable(counter) else None, name)


def _gsm8k_answer(raw: object, where: str) -> str:
    text = str(raw).strip()
    if "####" in text:
        text = text.rsplit("####", 1)[1].strip()
    text = text.replace(",", "")
    if parse_number(text) is None:
        raise InputError(f"{where}: answer {raw!r} does not end in a number")
    return text


@register_loader("gsm8k")
def load_gsm8k(path: Path, options: Options) -> list[Item]:
    """ko-GSM8K / GSM8K layout (JSONL or CSV): ``question``, ``answer`` (a number, or a worked
    solution ending ``#### N``); kind ``numeric``. Option ``question_field``."""
    qf = str(options.get("question_field", "question"))
    items: list[Item] = []
    for f in files_under(path, (".jsonl", ".csv")):
        source = f.name if path.is_file() else f.relative_to(path).as_posix()
        rows: Any = read_csv(f) if f.suffix.lower() == ".csv" else read_jsonl(f)
        for n, (lineno, row) in enumerate(rows, start=1):
            where = f"{f}:{lineno}"
            question = str(field(row, qf, where, (str,)))
            target = _gsm8k_answer(field(row, "answer", where, (str, int, float)), where)
            rid = row.get("id")
            items.append(
                Item(
                    id=f"{source}#{rid if rid not in (None, '') else n}",
                    kind="numeric",
                    prompt=question,
                    target=target,
                    metadata={"subject": str(row.get("subject") or "gsm8k"), "source": source},
                )
            )
    return items


def parse_list(raw: object, where: str, name: str) -> list[Any]:
    """A list, or its JSON / Python-literal string form (published TSVs store lists so)."""
    if isinstance(raw, list):
        return raw
    if isinstance(raw, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(raw)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, list | tuple):
                return list(value)
    raise InputError(f"{where}: field {name!r} should be a list or its string form")


@register_loader("ifeval")
def load_ifeval(path: Path, options: Options) -> list[Item]:
    """IFEval's JSONL layout: ``key, prompt, instruction_id_list, kwargs``; kind
    ``instruction``. Rows naming an instruction without a checker here are refused, or
    dropped with option ``unsupported: skip`` (IFEval has 25 types; see ``ifeval.py``)."""
    skip = options.get("unsupported", "error") == "skip"
    items: list[Item] = []
    for f in files_under(path, (".jsonl",)):
        source = f.name if path.is_file() else f.relative_to(path).as_posix()
        for lineno, row in read_jsonl(f):
            where = f"{f}:{lineno}"
            prompt = str(field(row, "prompt", where, (str,)))
            ids = [str(x) for x in field(row, "instruction_id_list", where, (list,))]
            kwargs = field(row, "kwargs", where, (list,))
            if not all(isinstance(k, dict) or k is None for k in kwargs):
                raise InputError(f"{where}: 'kwargs' should be a list of objects")
            unknown = [i for i in ids if i not in ifeval.instruction_ids()]
            if unknown:
                if skip:
                    continue
                raise InputError(
                    f"{where}: instructions {unknown} have no checker; "
                    "set option unsupported: skip to leave such prompts out"
                )
            try:
                target = ifeval.encode_instructions(ids, kwargs)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
            key = row.get("key", lineno)
            items.append(
                Item(
                    id=f"{source}#{key}",
                    kind="instruction",
                    prompt=prompt,
                    target=target,
                    metadata={"subject": "instruction_following", "source": source},
                )
            )
    return items


def _safety_item(
    item_id: str, prompt: str, expected: str, kind_of: str, lang: str, source: str, where: str
) -> Item:
    if expected not in safety.EXPECTED:
        raise InputError(f"{where}: expected {expected!r}; use refuse, comply or decline")
    return Item(
        id=item_id,
        kind="safety",
        prompt=prompt,
        target=expected,
        metadata={"subject": kind_of, "type": kind_of, "language": lang, "source": source},
    )


@register_loader("safety")
def load_safety(path: Path, options: Options) -> list[Item]:
    """Our safety/reliability JSONL: ``id, prompt, expected`` (refuse|comply|decline),
    ``type`` (harmful, benign_lookalike, unanswerable), ``lang``; kind ``safety``."""
    del options
    items: list[Item] = []
    for f in files_under(path, (".jsonl",)):
        source = f.name if path.is_file() else f.relative_to(path).as_posix()
        for lineno, row in read_jsonl(f):
            where = f"{f}:{lineno}"
            items.append(
                _safety_item(
                    f"{source}#{field(row, 'id', where, (str, int))}",
                    str(field(row, "prompt", where, (str,))),
                    str(field(row, "expected", where, (str,))),
                    str(row.get("type") or "safety"),
                    str(row.get("lang") or ""),
                    source,
                    where,
                )
            )
    return items


@register_loader("xstest")
def load_xstest(path: Path, options: Options) -> list[Item]:
    """XSTest's ``xstest_prompts.csv``: ``label`` ``safe`` -> must comply, ``unsafe`` -> must
    refuse; ``type`` is the subject (homonyms, contrast_homonyms, ...); kind ``safety``."""
    del options
    items: list[Item] = []
    for f in files_under(path, (".csv",)):
        source = f.name if path.is_file() else f.relative_to(path).as_posix()
        for lineno, row in read_csv(f):
            where = f"{f}:{lineno}"
            label = str(field(row, "label", where, (str,))).strip().lower()
            if label not in ("safe", "unsafe"):
                raise InputError(f"{where}: label {label!r}; XSTest labels are safe or unsafe")
            items.append(
                _safety_item(
                    f"{source}#{field(row, 'id', where, (str,))}",
                    str(field(row, "prompt", where, (str,))),
                    "comply" if label == "safe" else "refuse",
                    str(row.get("type") or "xstest"),
                    "en",
                    source,
                    where,
                )
            )
    return items


def _read_tsv(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    with fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if reader.fieldnames is None:
            raise InputError(f"{path}:1: empty TSV, expected a header row")
        rows = []
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise InputError(f"{path}:{reader.line_num}: cell count differs from the header")
            rows.append((reader.line_num, dict(row)))
        return rows


@register_loader("kobbq")
def load_kobbq(path: Path, options: Options) -> list[Item]:
    """KoBBQ (``KoBBQ_test_samples.tsv``, or CSV): ``sample_id, context, question, choices,
    biased_answer, answer``; kind ``mc`` with the choices in file order. Ambiguous contexts
    (``-amb-`` in the id) have the "unknown" choice as the answer: the model must decline to
    pick a person. ``metadata``: ``context_type`` (amb/dis), ``biased`` (the biased letter),
    ``subject`` (the category before the first ``-``)."""
    del options
    items: list[Item] = []
    for f in files_under(path, (".tsv", ".csv")):
        source = f.name if path.is_file() else f.relative_to(path).as_posix()
        rows = _read_tsv(f) if f.suffix.lower() == ".tsv" else list(read_csv(f))
        for lineno, row in rows:
            where = f"{f}:{lineno}"
            sid = str(field(row, "sample_id", where, (str,)))
            context = str(field(row, "context", where, (str,)))
            question = str(field(row, "question", where, (str,)))
            choices = tuple(
                str(c) for c in parse_list(field(row, "choices", where, (str,)), where, "choices")
            )
            if not 2 <= len(choices) <= 10:
                raise InputError(f"{where}: {len(choices)} choices, need 2-10")
            target = answer_to_letter(field(row, "answer", where, (str,)), choices, "text", where)
            biased = answer_to_letter(
                field(row, "biased_answer", where, (str,)), choices, "text", where
            )
            items.append(
                Item(
                    id=f"{source}#{sid}",
                    kind="mc",
                    prompt=f"{context}\n{question}",
                    choices=choices,
                    target=target,
                    metadata={
                        "subject": sid.split("-", 1)[0],
                        "context_type": "amb" if "-amb-" in sid else "dis",
                        "biased": biased,
                        "source": source,
                    },
                )
            )
    return items

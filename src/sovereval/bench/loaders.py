"""Benchmark loaders: a registry of named functions that turn files into ``list[Item]``.

A loader is ``fn(path, options) -> list[Item]``; it is registered with
``@register_loader("name")`` and named by suite specs (see ``catalogue.py``). Loaders read
files only; they never touch the network, except the ``hub_id`` option of the KMMLU, HAE-RAE
and HRM8K loaders, which imports ``datasets`` lazily and is never used by tests.

Every malformed input raises :class:`InputError` with one line naming ``file:line`` and what
to fix. Files are read as ``utf-8-sig`` so a leading BOM (LogicKor's evaluated files carry
one) is tolerated everywhere.

This module holds the registry, the shared readers, and the generic ``jsonl``/``csv``
loaders; the benchmark-specific loaders live in ``loaders_public.py`` (CLIcK, KoMT-Bench,
LogicKor) and ``loaders_hub.py`` (KMMLU, HAE-RAE, HRM8K) and register on import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from sovereval.bench.items import LETTERS, Item, ItemKind
from sovereval.errors import InputError, NotFoundError

Options = Mapping[str, Any]
LoaderFn = Callable[[Path, Options], list[Item]]

_LOADERS: dict[str, LoaderFn] = {}
MAX_JSON_BYTES = 256 * 1024 * 1024
"""Whole-document JSON files above this size are refused (benchmark files are a few MB)."""
_KINDS: tuple[ItemKind, ...] = ("mc", "exact", "numeric", "writing", "instruction", "safety")


def register_loader(name: str) -> Callable[[LoaderFn], LoaderFn]:
    """Register ``fn(path, options) -> list[Item]`` under ``name`` (decorator)."""

    def deco(fn: LoaderFn) -> LoaderFn:
        if name in _LOADERS and _LOADERS[name] is not fn:
            raise ValueError(f"loader {name!r} is registered twice")
        _LOADERS[name] = fn
        return fn

    return deco


def _load_builtins() -> None:
    # Imported here, not at module top, because those modules import this one.
    from sovereval.bench import loaders_gov, loaders_hub, loaders_public  # noqa: F401


def loader_names() -> list[str]:
    """Every registered loader name, sorted."""
    _load_builtins()
    return sorted(_LOADERS)


def get_loader(name: str) -> LoaderFn:
    """The loader registered as ``name``; InputError listing the known names otherwise."""
    _load_builtins()
    try:
        return _LOADERS[name]
    except KeyError:
        raise InputError(
            f"unknown loader {name!r}; registered: {', '.join(sorted(_LOADERS))}"
        ) from None


def load(name: str, path: str | Path, options: Options | None = None) -> list[Item]:
    """Load items with the loader ``name``; checks that ids are unique within the result."""
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"benchmark data not found: {p}; check the suite's data root")
    items = get_loader(name)(p, dict(options or {}))
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise InputError(f"{p}: duplicate item id {it.id!r}; qualify ids with the source file")
        seen.add(it.id)
    return items


# --------------------------------------------------------------------------- readers


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; InputError on bad JSON."""
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}:{lineno}: invalid JSON ({exc.msg}); fix or remove the line"
                ) from None
            if not isinstance(obj, dict):
                raise InputError(
                    f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            yield lineno, obj


def read_json(path: Path) -> Any:
    """Parse a whole JSON document; InputError with ``file:line`` on bad JSON."""
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise InputError(
            f"{path}: {size} bytes, over the {MAX_JSON_BYTES}-byte cap for a JSON document"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read as UTF-8 ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` of a CSV with a header; the line is the row's first line."""
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    with fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise InputError(f"{path}:1: empty CSV, expected a header row")
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                raise InputError(f"{path}:{start}: more cells than header columns")
            if any(v is None for v in row.values()):
                raise InputError(f"{path}:{start}: fewer cells than header columns")
            yield start, row
            start = reader.line_num + 1


def field(obj: Mapping[str, Any], key: str, where: str, typ: type | tuple[type, ...] = str) -> Any:
    """``obj[key]`` checked for presence and type; InputError naming ``where`` otherwise."""
    if key not in obj:
        raise InputError(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        names = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise InputError(f"{where}: field {key!r} should be {names}, got {type(value).__name__}")
    return value


def files_under(path: Path, suffixes: Sequence[str]) -> list[Path]:
    """``path`` itself if a file, else every file below it with one of ``suffixes``, sorted."""
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise InputError(f"{path}: no {'/'.join(suffixes)} files found")
    return found


def answer_to_letter(raw: object, choices: Sequence[str], fmt: str, where: str) -> str:
    """Convert an answer in format ``fmt`` to the choice letter.

    ``fmt``: ``letter`` ("B", "(B)", "b"), ``index0`` (1 -> B), ``index1`` (2 -> B),
    ``text`` (the choice text itself, as in CLIcK).
    """
    n = len(choices)
    if fmt == "text":
        matches = [i for i, c in enumerate(choices) if c == raw]
        if not matches:
            raise InputError(f"{where}: answer {raw!r} is not one of the choices")
        return LETTERS[matches[0]]
    if fmt in ("index0", "index1"):
        try:
            idx = int(str(raw).strip()) - (1 if fmt == "index1" else 0)
        except ValueError:
            raise InputError(f"{where}: answer {raw!r} is not an integer ({fmt})") from None
        if not 0 <= idx < n:
            raise InputError(f"{where}: answer {raw!r} out of range for {n} choices ({fmt})")
        return LETTERS[idx]
    if fmt == "letter":
        letter = str(raw).strip().strip("()").strip().upper()
        if len(letter) != 1 or letter not in LETTERS[:n]:
            raise InputError(f"{where}: answer {raw!r} is not a letter A-{LETTERS[n - 1]}")
        return letter
    raise InputError(f"{where}: unknown answer_format {fmt!r}; use letter, index0, index1 or text")


def kind_option(options: Options, default: ItemKind) -> ItemKind:
    """The ``kind`` option, validated."""
    kind = options.get("kind", default)
    if kind not in _KINDS:
        raise InputError(f"option kind={kind!r}; use one of {', '.join(_KINDS)}")
    return cast(ItemKind, kind)


def _record_to_item(
    rec: Mapping[str, Any], where: str, options: Options, default_id: str, source: str, prefix: str
) -> Item:
    """Map one generic record to an Item using the column mapping in ``options``."""
    kind = kind_option(options, "exact")
    prompt = str(field(rec, options.get("prompt_field", "prompt"), where, (str, int, float)))
    id_field = options.get("id_field", "id")
    item_id = default_id
    if id_field in rec and rec[id_field] not in ("", None):
        item_id = f"{prefix}{rec[id_field]}"
    meta = {"source": source}
    subject_field = options.get("subject_field")
    if subject_field:
        meta["subject"] = str(field(rec, subject_field, where, (str, int)))
    target_field = options.get("target_field", "answer")
    choices: tuple[str, ...] = ()
    if kind == "mc":
        cf = options.get("choices_field", "choices")
        if isinstance(cf, list):
            choices = tuple(str(field(rec, c, where, (str, int, float))) for c in cf)
        else:
            raw = field(rec, cf, where, (list, str))
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except json.JSONDecodeError:
                    raise InputError(f"{where}: field {cf!r} is not a JSON list") from None
            if not isinstance(raw, list):
                raise InputError(f"{where}: field {cf!r} should be a list")
            choices = tuple(str(c) for c in raw)
        if not 2 <= len(choices) <= len(LETTERS):
            raise InputError(f"{where}: {len(choices)} choices, need 2-{len(LETTERS)}")
        target = answer_to_letter(
            field(rec, target_field, where, (str, int)),
            choices,
            options.get("answer_format", "letter"),
            where,
        )
    elif kind == "writing":
        target = str(rec.get(target_field) or "")
    else:
        target = str(field(rec, target_field, where, (str, int, float))).strip()
    return Item(id=item_id, kind=kind, prompt=prompt, choices=choices, target=target, metadata=meta)


@register_loader("jsonl")
def load_jsonl(path: Path, options: Options) -> list[Item]:
    """Generic JSONL. Options: kind, id_field, prompt_field, choices_field (name or list of
    columns), target_field, answer_format (letter|index0|index1|text), subject_field."""
    items = []
    for f in files_under(path, (".jsonl",)):
        rel = f.name if path.is_file() else f.relative_to(path).as_posix()
        for lineno, rec in read_jsonl(f):
            default_id = f"{rel}:{lineno}"
            prefix = "" if path.is_file() else f"{rel}#"
            items.append(_record_to_item(rec, f"{f}:{lineno}", options, default_id, rel, prefix))
    return items


@register_loader("csv")
def load_csv(path: Path, options: Options) -> list[Item]:
    """Generic CSV with a header; the same options as ``jsonl`` (``choices_field`` usually a list
    of columns such as ``["A", "B", "C", "D"]``)."""
    items = []
    for f in files_under(path, (".csv",)):
        rel = f.name if path.is_file() else f.relative_to(path).as_posix()
        for lineno, row in read_csv(f):
            prefix = "" if path.is_file() else f"{rel}#"
            items.append(
                _record_to_item(row, f"{f}:{lineno}", options, f"{rel}:{lineno}", rel, prefix)
            )
    return items

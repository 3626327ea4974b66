"""Loaders for the public Korean benchmarks whose files we hold: CLIcK, KoMT-Bench, LogicKor.

Each follows the format recorded in the benchmark's SOURCE.md (origin, commit, quirks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sovereval.bench.items import LETTERS, Item
from sovereval.bench.loaders import (
    Options,
    answer_to_letter,
    field,
    files_under,
    read_json,
    read_jsonl,
    register_loader,
)
from sovereval.errors import InputError

_CLICK_FIELDS = ("id", "paragraph", "question", "choices", "answer")


@register_loader("click")
def load_click(path: Path, options: Options) -> list[Item]:
    """CLIcK (Kim et al., LREC-COLING 2024): a directory of JSON arrays.

    Each record has ``id, paragraph, question, choices, answer`` where ``answer`` is the *text*
    of the correct choice. Ids repeat across files, so the item id is
    ``<file path relative to the given directory>#<id>``. The subject is the file's folder
    (``Korean_Law``, ``Grammar``...), the category its parent (``Culture``/``Language``), the
    exam the file-name suffix (``KIIP``, ``CSAT``...). The prompt is the passage (when not
    empty), a blank line, then the question; ``metadata`` keeps both raw strings for
    templates that place them differently (``click_lmeval``).
    """
    del options
    items: list[Item] = []
    for f in files_under(path, (".json",)):
        rel = f.name if path.is_file() else f.relative_to(path).as_posix()
        data = read_json(f)
        if not isinstance(data, list):
            raise InputError(f"{f}:1: expected a JSON array of CLIcK records")
        for i, rec in enumerate(data):
            where = f"{f}: record {i}"
            if not isinstance(rec, dict):
                raise InputError(f"{where}: expected an object")
            raw_id = field(rec, "id", where)
            where = f"{f}: record {i} (id {raw_id})"
            paragraph = field(rec, "paragraph", where)
            question = field(rec, "question", where)
            choices = field(rec, "choices", where, list)
            if not 2 <= len(choices) <= len(LETTERS) or not all(
                isinstance(c, str) for c in choices
            ):
                raise InputError(f"{where}: 'choices' should be 2-{len(LETTERS)} strings")
            answer = field(rec, "answer", where)
            target = answer_to_letter(answer, choices, "text", where)
            prompt = (
                f"{paragraph.strip()}\n\n{question.strip()}"
                if paragraph.strip()
                else question.strip()
            )
            exam = f.stem.rsplit("_", 1)[-1]
            items.append(
                Item(
                    id=f"{rel}#{raw_id}",
                    kind="mc",
                    prompt=prompt,
                    choices=tuple(choices),
                    target=target,
                    metadata={
                        "subject": f.parent.name,
                        "category": f.parent.parent.name,
                        "exam": exam,
                        "source": rel,
                        "paragraph": paragraph,
                        "question": question,
                    },
                )
            )
    return items


def _resolve_file(path: Path, default_name: str) -> Path:
    if path.is_dir():
        path = path / default_name
    if not path.is_file():
        raise InputError(
            f"{path}: file not found; give the file or the folder holding {default_name}"
        )
    return path


@register_loader("komt")
def load_komt(path: Path, options: Options) -> list[Item]:
    """KoMT-Bench (LG AI Research; FastChat MT-Bench format): ``question_ko.jsonl``.

    Each row: ``question_id`` (int), ``category``, ``turns`` (exactly 2 prompts), optional
    ``reference`` (2 strings). The item's ``target`` is the turn-1 reference, the turn-2
    reference sits in ``metadata["reference_turn_2"]``.

    Options: ``reference_answers`` — a FastChat model-answer JSONL (``reference_answer_ko/
    gpt-4.jsonl``), relative to the question file's folder; its answers are used as references
    for rows without one whose category is in ``reference_categories`` (default math,
    reasoning, coding: FastChat's ``NEED_REF_CATS``). Rows of that file whose ``question_id``
    is not a question (the upstream file has 10 such orphans, ids 161-170) are ignored;
    :func:`komt_orphans` lists them for a report.
    """
    qfile = _resolve_file(path, "question_ko.jsonl")
    refs: dict[int, list[str]] = {}
    ref_opt = options.get("reference_answers")
    if ref_opt:
        refs = _read_model_answers(qfile.parent / str(ref_opt))
    ref_cats = set(options.get("reference_categories", ("math", "reasoning", "coding")))
    items: list[Item] = []
    for lineno, rec in read_jsonl(qfile):
        where = f"{qfile}:{lineno}"
        qid = field(rec, "question_id", where, int)
        category = field(rec, "category", where)
        turns = field(rec, "turns", where, list)
        if len(turns) != 2 or not all(isinstance(t, str) and t.strip() for t in turns):
            raise InputError(f"{where}: 'turns' should be 2 non-empty strings, got {len(turns)}")
        reference: list[str] = []
        source = ""
        if "reference" in rec:
            reference = field(rec, "reference", where, list)
            if not all(isinstance(r, str) for r in reference):
                raise InputError(f"{where}: 'reference' should be a list of strings")
            source = "question"
        elif category in ref_cats and qid in refs:
            reference, source = refs[qid], str(ref_opt)
        meta = {"category": category, "subject": category, "source": qfile.name}
        if source:
            meta["reference_source"] = source
        if len(reference) > 1:
            meta["reference_turn_2"] = reference[1]
        items.append(
            Item(
                id=str(qid),
                kind="writing",
                prompt=turns[0],
                turns=tuple(turns),
                target=reference[0] if reference else "",
                metadata=meta,
            )
        )
    return items


def _read_model_answers(path: Path) -> dict[int, list[str]]:
    """FastChat model-answer JSONL -> {question_id: [turn answers]} (first choice)."""
    out: dict[int, list[str]] = {}
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        qid = field(rec, "question_id", where, int)
        choices = field(rec, "choices", where, list)
        if not choices or not isinstance(choices[0], dict):
            raise InputError(f"{where}: 'choices' should hold at least one answer object")
        turns = field(choices[0], "turns", where, list)
        if not all(isinstance(t, str) for t in turns):
            raise InputError(f"{where}: answer 'turns' should be strings")
        out[qid] = turns
    return out


def komt_orphans(question_file: Path, answers_file: Path) -> list[int]:
    """Question ids present in a model-answer file but absent from the question file."""
    qids = {
        field(rec, "question_id", f"{question_file}:{n}", int)
        for n, rec in read_jsonl(question_file)
    }
    return sorted(set(_read_model_answers(answers_file)) - qids)


@register_loader("logickor")
def load_logickor(path: Path, options: Options) -> list[Item]:
    """LogicKor (instruct.kr): ``questions.jsonl`` with ``id, category, questions, references``.

    ``questions`` holds the turn prompts; only the first ``turns`` (option, default 2) are used,
    as upstream ``generator.py`` does (id 3 carries a stray third string). ``references`` holds
    one string or ``null`` per turn. ``target`` is the turn-1 reference or ``""``.
    The same loader reads an ``evaluated/.../default.jsonl`` file (UTF-8 BOM tolerated); its
    extra fields are ignored here and read by :func:`read_logickor_evaluated`.
    """
    qfile = _resolve_file(path, "questions.jsonl")
    n_turns = int(options.get("turns", 2))
    items: list[Item] = []
    for lineno, rec in read_jsonl(qfile):
        where = f"{qfile}:{lineno}"
        qid = field(rec, "id", where, int)
        category = field(rec, "category", where)
        questions = field(rec, "questions", where, list)
        if len(questions) < n_turns or not all(isinstance(q, str) and q.strip() for q in questions):
            raise InputError(
                f"{where}: 'questions' should hold at least {n_turns} non-empty strings"
            )
        refs = field(rec, "references", where, list)
        if not all(r is None or isinstance(r, str) for r in refs):
            raise InputError(f"{where}: 'references' entries should be strings or null")
        meta = {"category": category, "subject": category, "source": qfile.name}
        if len(refs) > 1 and refs[1]:
            meta["reference_turn_2"] = refs[1]
        turns = tuple(questions[:n_turns])
        items.append(
            Item(
                id=str(qid),
                kind="writing",
                prompt=turns[0],
                turns=turns,
                target=(refs[0] or "") if refs else "",
                metadata=meta,
            )
        )
    items.sort(key=lambda it: int(it.id))
    return items


@dataclass(frozen=True)
class JudgedAnswer:
    """One row of a LogicKor ``evaluated`` file: a model's answers and the judge's scores."""

    id: str
    outputs: tuple[str, ...]
    scores: tuple[float, ...]
    """Judge score per turn, 0.0-10.0 (``query_single``, ``query_multi``)."""
    messages: tuple[str, ...]


def read_logickor_evaluated(path: Path) -> list[JudgedAnswer]:
    """Read an ``evaluated/<org>/<model>/default.jsonl`` (starts with a UTF-8 BOM)."""
    out: list[JudgedAnswer] = []
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        qid = field(rec, "id", where, int)
        outputs = field(rec, "outputs", where, list)
        scores, messages = [], []
        for key in ("query_single", "query_multi"):
            q = field(rec, key, where, dict)
            scores.append(float(field(q, "judge_score", f"{where} {key}", (int, float))))
            messages.append(str(field(q, "judge_message", f"{where} {key}")))
        out.append(JudgedAnswer(str(qid), tuple(map(str, outputs)), tuple(scores), tuple(messages)))
    out.sort(key=lambda r: int(r.id))
    return out

"""Durable per-item results: the record type, the ``ItemSink`` seam and the JSONL journal.

Every finished item is written (and fsync'ed) before it counts as finished, so a run killed
with SIGKILL loses at most the items in flight. On restart the engine reads the journal and
skips every item whose key — task, item id and prompt hash — is already there; the prompt
hash covers the model, the rendered prompt and the decoding parameters, so a changed prompt
or model is re-run rather than silently reused.

The journal is JSON Lines, one object per item, UTF-8, never pickle, written through the one
durable journal (``sovereval.journal.JsonlFile``: fsync'ed, exclusively locked, torn tail cut).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from sovereval.errors import InputError
from sovereval.journal import JsonlFile, read_records

JOURNAL_VERSION = 1


@dataclass(frozen=True)
class ItemResult:
    """What the engine records for one item: enough to re-score, audit and resume."""

    task: str
    item_id: str
    item_hash: str
    """:meth:`Item.content_hash` — ties the result to the exact item (commitments use it)."""
    prompt_hash: str
    """SHA-256 of (model URI, method, rendered prompt, decoding parameters); the cache key."""
    model: str
    method: str
    """``loglik`` (choices scored by log-likelihood) or ``generate`` (a generated answer)."""
    response: str
    """Generated text (the last turn's), or for ``loglik`` the letter of the best choice."""
    turn_texts: tuple[str, ...]
    """Every turn's answer of a multi-turn item (empty for single-turn items)."""
    choice_logprobs: tuple[float, ...]
    choice_tokens: tuple[int, ...]
    score: float | None
    """The scorer's value; ``None`` until judged (writing tasks) or when it cannot be computed."""
    extracted: str | None
    """What the scorer parsed from the output (letter, number, normalised text)."""
    metrics: dict[str, float]
    """Secondary metrics from the scorer (``acc_norm``, ...)."""
    latency_s: float
    """Wall time of the model call(s) for this item; the original call's time when cached."""
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    finished_at: str
    """ISO-8601 UTC time the item finished (from the engine's injected clock)."""

    @property
    def key(self) -> str:
        return result_key(self.task, self.item_id, self.prompt_hash)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["turn_texts"] = list(self.turn_texts)
        data["choice_logprobs"] = list(self.choice_logprobs)
        data["choice_tokens"] = list(self.choice_tokens)
        data["v"] = JOURNAL_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemResult:
        try:
            return cls(
                task=str(data["task"]),
                item_id=str(data["item_id"]),
                item_hash=str(data["item_hash"]),
                prompt_hash=str(data["prompt_hash"]),
                model=str(data["model"]),
                method=str(data["method"]),
                response=str(data["response"]),
                turn_texts=tuple(str(x) for x in data["turn_texts"]),
                choice_logprobs=tuple(float(x) for x in data["choice_logprobs"]),
                choice_tokens=tuple(int(x) for x in data["choice_tokens"]),
                score=None if data["score"] is None else float(data["score"]),
                extracted=None if data["extracted"] is None else str(data["extracted"]),
                metrics={str(k): float(v) for k, v in dict(data["metrics"]).items()},
                latency_s=float(data["latency_s"]),
                prompt_tokens=int(data["prompt_tokens"]),
                completion_tokens=int(data["completion_tokens"]),
                cached=bool(data["cached"]),
                finished_at=str(data["finished_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"journal record is missing or has a bad field: {exc}") from exc

    def same_outcome(self, other: ItemResult) -> bool:
        """Equal in everything but timing and cache provenance (what resume must preserve)."""
        a = {
            k: v
            for k, v in self.to_json().items()
            if k not in {"latency_s", "cached", "finished_at"}
        }
        b = {
            k: v
            for k, v in other.to_json().items()
            if k not in {"latency_s", "cached", "finished_at"}
        }
        return a == b


def result_key(task: str, item_id: str, prompt_hash: str) -> str:
    return f"{task}\x1f{item_id}\x1f{prompt_hash}"


class ItemSink(Protocol):
    """Where finished items go. ``write`` must be durable when it returns.

    The engine calls ``write`` from one worker thread at a time with every result finished
    since the previous call (group commit), so a sink may use one transaction per call.
    """

    def write(self, results: Sequence[ItemResult]) -> None: ...

    def close(self) -> None: ...


class JsonlJournal:
    """Append-only JSONL file of item results, fsync'ed on every write call, locked while open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = JsonlFile(path, what="benchmark journal")

    def write(self, results: Sequence[ItemResult]) -> None:
        self._file.append(r.to_json() for r in results)

    def close(self) -> None:
        self._file.close()


class CallbackSink:
    """Calls ``fn`` once per finished item (after durable sinks); for progress and the store."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def write(self, results: Sequence[ItemResult]) -> None:
        for r in results:
            self._fn(r)

    def close(self) -> None:
        return None


class MemorySink:
    """Keeps results in a list (tests, and callers that only want the return value)."""

    def __init__(self) -> None:
        self.results: list[ItemResult] = []

    def write(self, results: Sequence[ItemResult]) -> None:
        self.results.extend(results)

    def close(self) -> None:
        return None


def read_journal(path: Path) -> list[ItemResult]:
    """Every complete record in ``path`` (missing file: none). A torn last line is skipped;
    a bad line anywhere else means the file was edited or corrupted, and is refused."""
    fix = "restore the file or start a new journal"
    return [ItemResult.from_json(d) for d in read_records(path, what="journal", fix=fix)]


def latest_by_key(results: Iterable[ItemResult]) -> dict[str, ItemResult]:
    """Index results by key; when an item appears twice the first record wins, because it
    is the one a resumed run already reported."""
    index: dict[str, ItemResult] = {}
    for r in results:
        index.setdefault(r.key, r)
    return index

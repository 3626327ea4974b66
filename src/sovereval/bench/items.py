"""Benchmark items: the unit every loader produces and every runner and scorer consumes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ItemKind = Literal["mc", "exact", "numeric", "writing", "instruction", "safety"]

LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class Item:
    """One benchmark item.

    ``target`` depends on ``kind``: for ``mc`` the letter of the correct choice (``"A"``...),
    for ``exact``/``numeric`` the answer string, for ``writing`` a reference answer or ``""``,
    for ``instruction`` the JSON list of verifiable instructions (``ifeval.py``), for
    ``safety`` the expected behaviour ``refuse``, ``comply`` or ``decline`` (``safety.py``).
    Long-context items are ``exact`` with a JSON refs/forbidden target (``longctx.py``).
    """

    id: str
    """Unique within its task; loaders qualify ids with the source file where ids repeat."""
    kind: ItemKind
    prompt: str
    """The full question text (passage + question), without the choices."""
    choices: tuple[str, ...] = ()
    target: str = ""
    turns: tuple[str, ...] = ()
    """Multi-turn prompts (KoMT-Bench); when present, ``prompt == turns[0]``."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """Subject, source file, category: used for breakdowns, never for scoring."""

    def content_hash(self) -> str:
        """SHA-256 over the canonical JSON of what defines the item (not its metadata).

        Private-set commitments are Merkle roots over these hashes, so the encoding is
        fixed: sorted keys, no whitespace, UTF-8.
        """
        payload = {
            "id": self.id,
            "kind": self.kind,
            "prompt": self.prompt,
            "choices": list(self.choices),
            "target": self.target,
            "turns": list(self.turns),
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def target_index(self) -> int:
        """0-based index of the correct choice of a multiple-choice item."""
        if self.kind != "mc":
            raise ValueError(f"item {self.id} is not multiple choice")
        return LETTERS.index(self.target)

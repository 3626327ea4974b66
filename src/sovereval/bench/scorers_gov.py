"""Scorers of the government set's task families (registered on import by ``scorers``).

- ``longctx_match``: long-context exact match (``longctx.match``): 1 when every ref is in the
  answer and no distractor is; ``recall`` is RULER's ``string_match_all``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sovereval.bench import longctx
from sovereval.bench.items import Item
from sovereval.bench.scorers import ItemScore, ModelOutput, register_scorer


@register_scorer("longctx_match", requires="generate")
def longctx_match(item: Item, output: ModelOutput, options: Mapping[str, Any]) -> ItemScore:
    """Long-context retrieval, tracking or aggregation by exact match of every ref."""
    del options
    score, recall = longctx.match(item.target, output.text or "")
    return ItemScore(score, None, {"recall": recall})

"""Log-likelihood of multiple-choice continuations with one shared forward pass per question.

lm-evaluation-harness scores a question with ``n`` choices by running ``n`` sequences
``context + choice_j`` through the model. The context is usually most of the tokens, so
almost all of that work is repeated. Here one row holds the context once followed by every
continuation, and a block attention mask lets each continuation see the context and its own
earlier tokens only; position ids restart at the end of the context for each continuation.
Every continuation token therefore sees exactly the tokens and positions it would see in its
own sequence, so the log-probabilities equal lm-eval's up to floating-point summation order —
at roughly ``1/n`` of the compute.

Tokenisation replicates lm-eval's ``_encode_pair`` (lm_eval/api/model.py, v0.4): trailing
whitespace of the context moves into the continuation; the continuation tokens are the tail
of ``encode(context + continuation)`` after ``len(encode(context))`` tokens; an empty context
is replaced by the model's prefix token (BOS, else EOS).

This module holds the pure packing logic (token ids in, index arrays out); the torch forward
lives in :mod:`sovereval.bench.backends.transformers_local`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Encode = Callable[[str], list[int]]


def split_whitespace(context: str, continuation: str) -> tuple[str, str]:
    """Move trailing whitespace of ``context`` to the front of ``continuation`` (lm-eval)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(encode: Encode, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's causal ``_encode_pair``: (context ids, continuation ids)."""
    context, continuation = split_whitespace(context, continuation)
    whole = encode(context + continuation)
    ctx = encode(context)
    return ctx, whole[len(ctx) :]


@dataclass(frozen=True)
class Group:
    """One context and the continuations scored against it (one MC question)."""

    context: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]
    request_indices: tuple[int, ...]
    """Where each continuation's result goes in the caller's request list."""

    @property
    def length(self) -> int:
        return len(self.context) + sum(len(c) for c in self.continuations)


def build_groups(
    encode: Encode,
    pairs: Sequence[tuple[str, str]],
    *,
    prefix_token_id: int,
    max_length: int,
) -> list[Group]:
    """Tokenise ``(context, continuation)`` pairs and group them by identical context ids.

    Contexts longer than ``max_length`` minus the longest continuation are left-truncated,
    as lm-eval does (it keeps the last ``max_length`` tokens of context + continuation).
    """
    by_context: dict[tuple[int, ...], list[tuple[tuple[int, ...], int]]] = {}
    order: list[tuple[int, ...]] = []
    for index, (context, continuation) in enumerate(pairs):
        if context == "":
            ctx_ids: list[int] = [prefix_token_id]
            cont_ids = encode(continuation)
        else:
            ctx_ids, cont_ids = encode_pair(encode, context, continuation)
        if not cont_ids:
            raise ValueError(f"continuation {continuation!r} encodes to no tokens")
        key = tuple(ctx_ids)
        if key not in by_context:
            by_context[key] = []
            order.append(key)
        by_context[key].append((tuple(cont_ids), index))
    groups: list[Group] = []
    for key in order:
        conts = by_context[key]
        longest = max(len(c) for c, _ in conts)
        budget = max(1, max_length - longest)
        ctx = key[-budget:]
        # Split a group whose packed row would exceed max_length: continuations then go in
        # several rows that each repeat the context.
        row: list[tuple[tuple[int, ...], int]] = []
        used = len(ctx)
        for cont, index in conts:
            if row and used + len(cont) > max_length:
                groups.append(_group(ctx, row))
                row, used = [], len(ctx)
            row.append((cont, index))
            used += len(cont)
        groups.append(_group(ctx, row))
    return groups


def _group(ctx: tuple[int, ...], row: list[tuple[tuple[int, ...], int]]) -> Group:
    return Group(
        context=ctx,
        continuations=tuple(c for c, _ in row),
        request_indices=tuple(i for _, i in row),
    )


@dataclass(frozen=True)
class PackedRow:
    """Token ids, position ids and segment ids of one packed row, plus where to read scores.

    ``segments[i]`` is 0 for context tokens and ``j + 1`` for tokens of continuation ``j``.
    ``targets`` lists, for every continuation token, ``(source_position, token_id, cont_j)``:
    the logits at ``source_position`` predict ``token_id``.
    """

    tokens: tuple[int, ...]
    positions: tuple[int, ...]
    segments: tuple[int, ...]
    targets: tuple[tuple[int, int, int], ...]


def pack(group: Group) -> PackedRow:
    """Lay out ``context + cont_1 + ... + cont_n`` with restarting positions."""
    tokens = list(group.context)
    positions = list(range(len(group.context)))
    segments = [0] * len(group.context)
    targets: list[tuple[int, int, int]] = []
    c = len(group.context)
    for j, cont in enumerate(group.continuations):
        source = c - 1
        for t, tok in enumerate(cont):
            targets.append((source, tok, j))
            source = len(tokens)
            tokens.append(tok)
            positions.append(c + t)
            segments.append(j + 1)
    return PackedRow(tuple(tokens), tuple(positions), tuple(segments), tuple(targets))


def allowed(segments: Sequence[int], query: int, key: int) -> bool:
    """Reference attention rule (the torch code vectorises it): causal, and a continuation
    token sees the context plus its own continuation only. Padding (segment -1) sees itself."""
    if segments[query] < 0:
        return key == query
    return key <= query and (segments[key] == 0 or segments[key] == segments[query])


def batches_by_length(rows: Sequence[PackedRow], max_batch_tokens: int) -> list[list[int]]:
    """Indices of ``rows`` in length-sorted batches whose padded size (rows x longest)
    stays within ``max_batch_tokens`` — bounded memory whatever the lengths."""
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i].tokens))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        length = len(rows[i].tokens)
        new_longest = max(longest, length)
        if current and new_longest * (len(current) + 1) > max_batch_tokens:
            batches.append(current)
            current, new_longest = [], length
        current.append(i)
        longest = new_longest
    if current:
        batches.append(current)
    return batches

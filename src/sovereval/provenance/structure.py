"""Components from structure, not from names: group a checkpoint's tensors into components.

Names are chosen by the team being judged, so they are hints, never ground. What survives a
renaming is the *shape of the name tree*: a stack of repeated blocks shows up as one prefix
followed by a running integer (``model.layers.7.``, ``vision_model.encoder.layers.3.``,
``blk.12.``, ``transformer.h.0.``, ``/encoder/layer.4/``), whatever words the prefix uses.
A component is one such stack together with the tensors outside any block that share the
most leading path segments with it (embeddings, final norms, conv front ends); tensors that
share none (``lm_head``, ``onnx::MatMul_812``) join the largest stack. A checkpoint with no
numbered stack at all is one component.

The component's *kind* (text / vision / audio / projector) is a label for people and for the
originality gate's declared components: the majority kind of the member tensors that the
name rules in :mod:`sovereval.provenance.canonical` recognise, else a word in the prefix,
else ``unknown``. No evidence depends on it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_SPLIT = re.compile(r"[./:]+")
_KIND_WORDS = (
    ("projector", ("projector", "mm_proj", "merger", "mm")),
    ("vision", ("vision", "visual", "vit", "image", "v", "img", "patch")),
    ("audio", ("audio", "speech", "whisper", "wav", "acoustic", "a")),
)


@dataclass(frozen=True)
class Component:
    name: str
    """The stack's name-tree prefix (``vision_model.encoder.layers``), or ``model``."""
    kind: str
    """text / vision / audio / projector / unknown (a label; never evidence)."""
    tensors: tuple[str, ...]
    """Stored names of the member tensors, in stored order."""


def _segments(name: str) -> list[str]:
    return [s for s in _SPLIT.split(name) if s]


def _stack_prefix(segs: Sequence[str]) -> tuple[str, ...] | None:
    """The segments before the first integer segment (``layer.4`` counts as ``layer``, ``4``)."""
    for i, s in enumerate(segs):
        if s.isdigit():
            return tuple(segs[:i])
        m = re.fullmatch(r"([A-Za-z_]+?)[_]?(\d+)", s)
        if m and i > 0 and m.group(1) in ("layer", "layers", "block", "blocks", "blk", "h"):
            return (*segs[:i], m.group(1))
    return None


def _blocks(members: Sequence[str], segs: Mapping[str, list[str]], p: tuple[str, ...]) -> set[str]:
    return {segs[m][len(p)] for m in members if len(segs[m]) > len(p)}


def _size(members: Sequence[str], numel: Mapping[str, int]) -> int:
    return sum(numel.get(m, 0) for m in members)


def _common(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def group_components(
    names: Sequence[str],
    numel: Mapping[str, int],
    canonical_kind: Mapping[str, str] | None = None,
    ndim: Mapping[str, int] | None = None,
) -> list[Component]:
    """Group ``names`` into components (see the module docstring); every name lands in one.

    With ``ndim``, a stack that holds only vectors (norm gains and biases left under their
    converter's names, as llama.cpp does for Gemma's extra norms) is not a component of its
    own: it joins the stack with the same block indices, else the largest."""
    segs = {n: _segments(n) for n in names}
    prefix = {n: _stack_prefix(s) for n, s in segs.items()}
    stacks: dict[tuple[str, ...], list[str]] = {}
    for n in names:
        p = prefix[n]
        if p is not None:
            stacks.setdefault(p, []).append(n)
    # a stack needs at least two distinct block indices; single numbered tensors are loose
    real: dict[tuple[str, ...], list[str]] = {}
    for p, ms in stacks.items():
        idx = {segs[m][len(p)] if len(segs[m]) > len(p) else "" for m in ms}
        if len(idx) >= 2:
            real[p] = ms
    if ndim is not None and len(real) > 1:
        matrices = {p for p, ms in real.items() if any(ndim.get(m, 2) >= 2 for m in ms)}
        if matrices:
            for p in [p for p in real if p not in matrices]:
                blocks = _blocks(real[p], segs, p)
                host = max(
                    matrices,
                    key=lambda q: (_blocks(real[q], segs, q) == blocks, _size(real[q], numel)),
                )
                real[host] = [*real[host], *real.pop(p)]
                for m in real[host]:
                    prefix[m] = host
    if not real:
        return [Component("model", _kind("model", names, canonical_kind), tuple(names))]
    size = {p: sum(numel.get(m, 0) for m in ms) for p, ms in real.items()}
    largest = max(real, key=lambda p: (size[p], -len(p)))
    groups: dict[tuple[str, ...], list[str]] = {p: [] for p in real}
    for n in names:
        p = prefix[n]
        if p is not None and p in real:
            groups[p].append(n)
            continue
        best = max(real, key=lambda q: (_common(segs[n], q), q == largest, size[q]))
        if _common(segs[n], best) == 0:
            best = largest
        groups[best].append(n)
    out = []
    for p, ms in groups.items():
        label = ".".join(p) or "model"
        out.append(Component(label, _kind(label, ms, canonical_kind), tuple(ms)))
    order = {n: i for i, n in enumerate(names)}
    out.sort(key=lambda c: min(order[t] for t in c.tensors))
    return _unique_names(out)


def _unique_names(comps: list[Component]) -> list[Component]:
    seen: Counter[str] = Counter()
    out = []
    for c in comps:
        seen[c.name] += 1
        name = c.name if seen[c.name] == 1 else f"{c.name}#{seen[c.name]}"
        out.append(Component(name, c.kind, c.tensors))
    return out


def _kind(label: str, members: Sequence[str], canonical_kind: Mapping[str, str] | None) -> str:
    if canonical_kind:
        votes = Counter(canonical_kind[m] for m in members if m in canonical_kind)
        if votes:
            return votes.most_common(1)[0][0]
    words = set(_segments(label.lower())) | set(re.split(r"[_\W]+", label.lower()))
    for kind, keys in _KIND_WORDS:
        if words & set(keys):
            return kind
    return "unknown"


__all__ = ["Component", "group_components"]

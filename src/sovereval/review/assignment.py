"""Conflict-free randomized reviewer assignment with a cap on every pair's probability.

Method: Jecmen, Zhang, Liu, Shah, Conitzer, Fang (2020), "Mitigating Manipulation in Peer
Review via Randomized Reviewer Assignments", NeurIPS.

1. Solve the linear program (their LP (1))::

       maximise   sum_ij S_ij x_ij
       subject to sum_i x_ij = k                    for every submission j
                  L_min <= sum_j x_ij <= L_max      for every expert i
                  0 <= x_ij <= q,  x_ij = 0 if (i, j) is conflicted

   with scipy's HiGHS. ``x_ij`` is the probability that expert i reviews submission j; the cap
   ``q`` bounds what a colluding expert (or a team lobbying for one) can gain.
2. Sample a deterministic assignment whose marginals equal ``x`` exactly: dependent rounding on
   the bipartite graph (Gandhi, Khuller, Parthasarathy, Srinivasan 2006, "Dependent rounding and
   its applications to approximation algorithms", J. ACM 53(3)). Repeatedly take a cycle or a
   maximal path of fractional edges, split it into two alternating matchings M1, M2 and move
   ``+a`` on M1 / ``-a`` on M2 with probability ``b / (a + b)``, otherwise ``-b`` / ``+b``, where
   ``a, b`` are the largest moves that keep every edge in [0, 1]. Each step keeps ``E[x_ij]``
   unchanged and every vertex's degree unchanged except at path ends, which have one fractional
   edge; so each submission keeps exactly ``k`` reviewers (its degree is an integer, it is never
   a path end) and each expert's load ends at the floor or ceiling of its fractional load, which
   lies in ``[L_min, L_max]``. Conflicted pairs have ``x = 0`` and never enter the graph.

The generator is seeded and everything iterates in index order, so ``(inputs, seed)`` reproduce
the assignment bit for bit; the fractional matrix and the seed go into the ledger.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sovereval.errors import InputError, RuleViolation

_EPS = 1e-9


@dataclass(frozen=True)
class AssignmentSpec:
    """Assignment policy, taken from the RuleSet."""

    reviewers_per_submission: int
    """k: every submission gets exactly this many reviewers."""
    min_load: int
    max_load: int
    """Each expert reviews between ``min_load`` and ``max_load`` submissions (inclusive)."""
    max_probability: float
    """q: the largest probability with which any one expert is assigned any one submission."""

    def __post_init__(self) -> None:
        if self.reviewers_per_submission < 1:
            raise InputError("reviewers_per_submission must be >= 1")
        if not 0 <= self.min_load <= self.max_load or self.max_load < 1:
            raise InputError(
                f"expert loads need 0 <= min_load <= max_load and max_load >= 1, got "
                f"[{self.min_load}, {self.max_load}]"
            )
        if not 0 < self.max_probability <= 1:
            raise InputError(f"max_probability must be in (0, 1], got {self.max_probability}")


@dataclass(frozen=True)
class Assignment:
    experts: tuple[str, ...]
    submissions: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    """(expert id, submission id), sorted by expert then submission index."""
    fractional: tuple[tuple[float, ...], ...]
    """x_ij, rows = experts, columns = submissions: the marginal probability of each pair."""
    seed: int
    spec: AssignmentSpec
    expected_similarity: float
    """LP optimum: sum_ij S_ij x_ij, the expected total similarity of the sampled assignment."""

    def reviewers_of(self, submission: str) -> tuple[str, ...]:
        return tuple(e for e, s in self.pairs if s == submission)

    def submissions_of(self, expert: str) -> tuple[str, ...]:
        return tuple(s for e, s in self.pairs if e == expert)

    def is_assigned(self, expert: str, submission: str) -> bool:
        return (expert, submission) in set(self.pairs)

    def fractional_matrix(self) -> NDArray[np.float64]:
        return np.array(self.fractional, dtype=np.float64).reshape(
            len(self.experts), len(self.submissions)
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the ledger event: enough to re-check and to re-sample."""
        return {
            "experts": list(self.experts),
            "submissions": list(self.submissions),
            "pairs": [list(p) for p in self.pairs],
            "fractional": [list(r) for r in self.fractional],
            "seed": self.seed,
            "spec": asdict(self.spec),
            "expected_similarity": self.expected_similarity,
            "method": "jecmen2020-lp+dependent-rounding",
        }


def _check_ids(name: str, ids: Sequence[str]) -> None:
    if not ids:
        raise InputError(f"no {name} to assign")
    if len(set(ids)) != len(ids):
        raise InputError(f"duplicate {name} ids")


def _mask(
    experts: Sequence[str], submissions: Sequence[str], conflicts: Iterable[tuple[str, str]]
) -> NDArray[np.bool_]:
    ei = {e: i for i, e in enumerate(experts)}
    sj = {s: j for j, s in enumerate(submissions)}
    allowed = np.ones((len(experts), len(submissions)), dtype=bool)
    for e, s in conflicts:
        if e in ei and s in sj:
            allowed[ei[e], sj[s]] = False
    return allowed


def _precheck(
    experts: Sequence[str],
    submissions: Sequence[str],
    allowed: NDArray[np.bool_],
    spec: AssignmentSpec,
) -> None:
    """Necessary conditions, each with a message naming the constraint that fails."""
    k, q = spec.reviewers_per_submission, spec.max_probability
    need = k * len(submissions)
    if need > spec.max_load * len(experts):
        raise RuleViolation(
            f"{need} reviews are needed but {len(experts)} experts x max load {spec.max_load} "
            f"= {spec.max_load * len(experts)}; add experts or raise the maximum load"
        )
    if need < spec.min_load * len(experts):
        raise RuleViolation(
            f"{len(experts)} experts x min load {spec.min_load} exceeds the {need} reviews "
            "needed; lower the minimum load"
        )
    for j, s in enumerate(submissions):
        n = int(allowed[:, j].sum())
        if n * q < k - _EPS:
            raise RuleViolation(
                f"too many conflicts for submission {s}: {n} non-conflicted experts x cap {q} "
                f"< {k} reviewers; recruit experts without conflicts or raise the cap"
            )
    for i, e in enumerate(experts):
        m = int(allowed[i, :].sum())
        if m * q < spec.min_load - _EPS:
            raise RuleViolation(
                f"expert {e} has only {m} non-conflicted submissions; {m} x cap {q} < minimum "
                f"load {spec.min_load}; lower the minimum load or release the expert"
            )


def _hall_violation(
    allowed: NDArray[np.bool_], cap: float, left_demand: float, right_cap: float
) -> list[int] | None:
    """Left vertices whose demand their neighbours cannot absorb (a min-cut), or None.

    Max-flow source -> left (``left_demand``) -> right (``cap`` per allowed pair) -> sink
    (``right_cap``); if the flow falls short, the left vertices reachable from the source in
    the residual graph form a set violating Hall's condition.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    scale = 10_000
    n_l, n_r = allowed.shape
    src, sink = n_l + n_r, n_l + n_r + 1
    edges: list[tuple[int, int, int]] = []
    for i in range(n_l):
        edges.append((src, i, round(left_demand * scale)))
        edges.extend((i, n_l + int(j), round(cap * scale)) for j in np.flatnonzero(allowed[i]))
    edges.extend((n_l + j, sink, round(right_cap * scale)) for j in range(n_r))
    rows, cols, caps = (list(t) for t in zip(*edges, strict=True))
    n = n_l + n_r + 2
    graph = csr_matrix((np.array(caps, dtype=np.int32), (rows, cols)), shape=(n, n))
    res = maximum_flow(graph, src, sink)
    if res.flow_value >= round(left_demand * scale) * n_l:
        return None
    flow = res.flow.toarray()
    residual = graph.toarray() - flow
    seen = {src}
    stack = [src]
    while stack:
        u = stack.pop()
        for w in np.flatnonzero(residual[u] > 0):
            v = int(w)
            if v not in seen:
                seen.add(v)
                stack.append(v)
    return sorted(v for v in seen if v < n_l)


def _explain_infeasible(
    experts: Sequence[str],
    submissions: Sequence[str],
    allowed: NDArray[np.bool_],
    spec: AssignmentSpec,
) -> RuleViolation:
    k, q = spec.reviewers_per_submission, spec.max_probability
    subs = _hall_violation(allowed.T, q, k, spec.max_load)
    if subs:
        names = ", ".join(submissions[j] for j in subs)
        return RuleViolation(
            f"too many conflicts for submissions {names}: their non-conflicted experts cannot "
            f"give each {k} reviewers within max load {spec.max_load} and cap {q}; recruit "
            "experts or relax the load or cap"
        )
    exps = _hall_violation(allowed, q, spec.min_load, k)
    if exps:
        names = ", ".join(experts[i] for i in exps)
        return RuleViolation(
            f"experts {names} cannot reach min load {spec.min_load} on the submissions they "
            "may review; lower the minimum load"
        )
    return RuleViolation(
        "no fractional assignment meets all of: k reviewers, load bounds, cap and conflicts; "
        "relax the load bounds or the cap"
    )


def solve_fractional(
    experts: Sequence[str],
    submissions: Sequence[str],
    spec: AssignmentSpec,
    *,
    conflicts: Collection[tuple[str, str]] = (),
    similarity: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], float]:
    """The LP of Jecmen et al. (2020): marginal probabilities ``x`` and the optimum value.

    ``similarity`` is experts x submissions (expertise match, higher is better); omitted, all
    pairs are equally suitable. Raises :class:`RuleViolation` naming the failing constraint.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    _check_ids("expert", experts)
    _check_ids("submission", submissions)
    n_e, n_s = len(experts), len(submissions)
    sim = np.ones((n_e, n_s)) if similarity is None else np.asarray(similarity, dtype=np.float64)
    if sim.shape != (n_e, n_s) or not np.all(np.isfinite(sim)):
        raise InputError(f"similarity must be a finite {n_e} x {n_s} matrix, got {sim.shape}")
    allowed = _mask(experts, submissions, conflicts)
    _precheck(experts, submissions, allowed, spec)

    ii, jj = np.nonzero(allowed)
    n_v = len(ii)
    var = np.arange(n_v)
    a_eq = coo_matrix((np.ones(n_v), (jj, var)), shape=(n_s, n_v)).tocsr()
    load = coo_matrix((np.ones(n_v), (ii, var)), shape=(n_e, n_v)).tocsr()
    a_ub = vstack([load, -load]).tocsr()
    b_ub = np.concatenate([np.full(n_e, spec.max_load), np.full(n_e, -spec.min_load)])
    res = linprog(
        -sim[ii, jj],
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=np.full(n_s, float(spec.reviewers_per_submission)),
        bounds=(0.0, spec.max_probability),
        method="highs",
    )
    if res.status == 2:
        raise _explain_infeasible(experts, submissions, allowed, spec)
    if res.status != 0:
        raise RuleViolation(f"assignment LP failed ({res.message}); check the inputs")
    x = np.zeros((n_e, n_s))
    x[ii, jj] = np.clip(res.x, 0.0, spec.max_probability)
    x[x < _EPS] = 0.0
    return x, float(np.sum(sim * x))


def sample_assignment(fractional: ArrayLike, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Dependent rounding: a 0/1 matrix with ``E[result] = fractional`` and degrees preserved.

    Row sums (expert loads) end at the floor or ceiling of the fractional row sums; integral
    column sums (k reviewers) are kept exactly. See the module docstring for the method.
    """
    x = np.array(fractional, dtype=np.float64)
    if x.ndim != 2 or np.any(x < -_EPS) or np.any(x > 1 + _EPS):
        raise InputError("fractional assignment must be a 2-D matrix of values in [0, 1]")
    n_e, n_s = x.shape
    ii, jj = np.nonzero(x > _EPS)
    val = x[ii, jj].copy()
    ends = np.stack([ii, n_e + jj], axis=1)  # edge e joins node ends[e,0] and ends[e,1]
    adj: list[set[int]] = [set() for _ in range(n_e + n_s)]
    for e, v in enumerate(val):
        if v >= 1 - _EPS:
            val[e] = 1.0
        else:
            adj[ends[e, 0]].add(e)
            adj[ends[e, 1]].add(e)

    def other(e: int, u: int) -> int:
        return int(ends[e, 1] if ends[e, 0] == u else ends[e, 0])

    def walk(start: int) -> tuple[list[int], bool]:
        """Edges of a cycle (True) or of a walk that ended at a dead end (False)."""
        pos = {start: 0}
        edges: list[int] = []
        u, prev = start, -1
        while True:
            nxt = [e for e in adj[u] if e != prev]
            if not nxt:
                return edges, False
            e = min(nxt)
            v = other(e, u)
            edges.append(e)
            if v in pos:
                return edges[pos[v] :], True
            pos[v] = len(edges)
            u, prev = v, e

    def end_of(edges: list[int], start: int) -> int:
        u = start
        for e in edges:
            u = other(e, u)
        return u

    ptr = 0
    while True:
        while ptr < len(val) and ptr not in adj[ends[ptr, 0]]:
            ptr += 1
        if ptr == len(val):
            break
        start = int(ends[ptr, 0])
        edges, cycle = walk(start)
        if not cycle:
            edges, cycle = walk(end_of(edges, start))
        m1, m2 = edges[0::2], edges[1::2]
        up = min([1 - val[e] for e in m1] + [val[e] for e in m2])
        down = min([val[e] for e in m1] + [1 - val[e] for e in m2])
        sign = 1.0 if rng.random() < down / (up + down) else -1.0
        step = up if sign > 0 else down
        for e in m1:
            val[e] += sign * step
        for e in m2:
            val[e] -= sign * step
        for e in edges:
            if val[e] <= _EPS or val[e] >= 1 - _EPS:
                val[e] = 0.0 if val[e] <= _EPS else 1.0
                adj[ends[e, 0]].discard(e)
                adj[ends[e, 1]].discard(e)
    out = np.zeros((n_e, n_s), dtype=bool)
    out[ii[val > 0.5], jj[val > 0.5]] = True
    return out


def verify_assignment(
    pairs: Iterable[tuple[str, str]],
    experts: Sequence[str],
    submissions: Sequence[str],
    spec: AssignmentSpec,
    conflicts: Collection[tuple[str, str]],
) -> None:
    """Raise :class:`RuleViolation` if an assignment (sampled or manual) breaks the policy."""
    pairs = list(pairs)
    bad = sorted(set(pairs) & set(conflicts))
    if bad:
        raise RuleViolation(f"conflicted pairs assigned: {bad}; remove them")
    if len(set(pairs)) != len(pairs):
        raise RuleViolation("an expert is assigned the same submission twice")
    unknown = [p for p in pairs if p[0] not in experts or p[1] not in submissions]
    if unknown:
        raise RuleViolation(f"pairs name unknown experts or submissions: {unknown[:3]}")
    for s in submissions:
        n = sum(1 for _, t in pairs if t == s)
        if n != spec.reviewers_per_submission:
            raise RuleViolation(
                f"submission {s} has {n} reviewers, needs {spec.reviewers_per_submission}"
            )
    for e in experts:
        n = sum(1 for f, _ in pairs if f == e)
        if not spec.min_load <= n <= spec.max_load:
            raise RuleViolation(
                f"expert {e} has load {n}, outside [{spec.min_load}, {spec.max_load}]"
            )


def assign_reviewers(
    experts: Sequence[str],
    submissions: Sequence[str],
    spec: AssignmentSpec,
    *,
    seed: int,
    conflicts: Collection[tuple[str, str]] = (),
    similarity: ArrayLike | None = None,
) -> Assignment:
    """Solve the LP, sample with ``numpy.random.default_rng(seed)``, verify, and return both.

    Same inputs and seed, same assignment. Record ``Assignment.to_dict()`` in the ledger.
    """
    experts, submissions = tuple(experts), tuple(submissions)
    conflicts = frozenset(conflicts)
    x, value = solve_fractional(
        experts, submissions, spec, conflicts=conflicts, similarity=similarity
    )
    chosen = sample_assignment(x, np.random.default_rng(seed))
    pairs = tuple(
        (experts[int(i)], submissions[int(j)]) for i, j in zip(*np.nonzero(chosen), strict=True)
    )
    try:
        verify_assignment(pairs, experts, submissions, spec, conflicts)
    except RuleViolation as exc:  # pragma: no cover - the sampler's guarantees make this a bug
        raise RuntimeError(f"internal error, sampled assignment breaks the policy: {exc}") from exc
    return Assignment(
        experts=experts,
        submissions=submissions,
        pairs=pairs,
        fractional=tuple(tuple(float(v) for v in row) for row in x),
        seed=seed,
        spec=spec,
        expected_similarity=value,
    )

"""User evaluation on the store: panel, frozen roster, blind battles, votes and the fit.

Every accepted vote is written with its ledger event in the caller's transaction; a duplicate
vote is refused by the database's unique constraint as well as by the check here, so no accepted
vote is ever lost or counted twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy.special import expit
from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.arena import rules as ar
from sovereval.arena.bt import (
    bootstrap_bradley_terry,
    deduplicate_battles,
    fit_bradley_terry,
    rate,
    win_matrix,
)
from sovereval.arena.integrity import SPRTSettings, screen_panelists
from sovereval.arena.leaks import find_leaks
from sovereval.arena.likert import likert_means
from sovereval.arena.pairing import choose_pair
from sovereval.arena.panel import CATEGORIES, Quotas, raking_weights, reference_quotas
from sovereval.arena.panel import Panelist as PanelMember
from sovereval.arena.rules import OUTCOMES
from sovereval.arena.votes import BatchVote, VoteInput, cast_vote, cast_votes
from sovereval.bootstrap import percentile_interval
from sovereval.competition import service as svc
from sovereval.errors import ConflictError, InputError, NotFoundError, RuleViolation
from sovereval.ledger.log import append
from sovereval.ledger.record import record, record_all
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

__all__ = [
    "OUTCOMES",
    "BatchVote",
    "VoteInput",
    "cast_vote",
    "cast_votes",
    "change_status",
    "enrol_panelist",
    "fit_round",
    "freeze_roster",
    "identity",
    "record_answers",
    "roster",
    "start_battle",
]


def enrol_panelist(
    s: Session,
    rnd: m.Round,
    code: str,
    *,
    gender: str,
    region: str,
    age_band: str,
    proficiency: str,
    actor: str,
    now: datetime,
    user_id: int | None = None,
) -> em.Panelist:
    """Enrol a panelist in this round only; ``user_id`` names the web account that takes part
    as this panelist (membership is per round, never by a matching name)."""
    values = {"gender": gender, "region": region, "age_band": age_band, "proficiency": proficiency}
    for what, value in values.items():
        allowed = CATEGORIES[what]
        if value not in allowed:
            raise InputError(
                f"panelist {code}: {what} must be one of {', '.join(allowed)}, not '{value}'"
            )
    if s.execute(
        select(em.Panelist).where(em.Panelist.round_id == rnd.id, em.Panelist.code == code)
    ).first():
        raise ConflictError(f"panelist '{code}' is already enrolled in round {rnd.number}")
    if (
        user_id is not None
        and s.execute(
            select(em.Panelist.id).where(
                em.Panelist.round_id == rnd.id, em.Panelist.user_id == user_id
            )
        ).first()
    ):
        raise ConflictError(f"that user is already a panelist of round {rnd.number}")
    p = em.Panelist(
        round_id=rnd.id,
        code=code,
        user_id=user_id,
        gender=gender,
        region=region,
        age_band=age_band,
        proficiency=proficiency,
        created_at=now,
    )
    # The ledger records the stratum, never a name: panelists are pseudonymous.
    record(
        s,
        p,
        actor=actor,
        kind="panel.enrolled",
        body={
            "round": rnd.number,
            "panelist": code,
            "stratum": [gender, region, age_band, proficiency],
        },
        at=now,
    )
    return p


def mark_simulation(s: Session, rnd: m.Round, *, actor: str, now: datetime) -> None:
    """Mark a round, as it is created, as a simulation: only such a round takes simulated
    panelists and votes (``arena simulate``), which the append-only ledger would keep forever.
    A round that has opened or has submissions is real and stays real."""
    has_subs = s.execute(select(m.Submission.id).where(m.Submission.round_id == rnd.id)).first()
    if rnd.status != "planned" or has_subs:
        raise RuleViolation(
            f"round {rnd.number} is {rnd.status}"
            + (" with submissions" if has_subs else "")
            + "; only a newly created round can be marked a simulation"
        )
    rnd.simulation = True
    append(s, actor=actor, kind="round.simulation", body={"round": rnd.number}, at=now)


def require_simulation(rnd: m.Round) -> None:
    if not rnd.simulation:
        raise RuleViolation(
            f"round {rnd.number} was not created as a simulation; simulated panels and votes "
            "go only into a round marked with 'sovereval arena mark-simulation' when created"
        )


def round_policy(
    s: Session, rnd: m.Round, cache: dict[int, ar.ArenaPolicy] | None = None
) -> ar.ArenaPolicy:
    """The round's arena policy. ``cache`` (keyed by rule-set row) may be kept across
    transactions: a round's rules change only by an amendment, which is a new row, and only a
    draft row is ever edited, so drafts are never cached."""
    key = rnd.ruleset_id or 0
    if cache is not None and key in cache:
        return cache[key]
    row = svc.get_ruleset(s, rnd.ruleset_id)
    pol = ar.policy_of(svc.ruleset_of(row))
    if cache is not None and row.status != "draft":
        cache[key] = pol
    return pol


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def freeze_roster(
    s: Session, rnd: m.Round, *, rng: np.random.Generator, actor: str, now: datetime
) -> list[em.ArenaModel]:
    """Fix the round's models behind random aliases. A roster cannot be changed mid-round."""
    if s.execute(select(em.ArenaModel).where(em.ArenaModel.round_id == rnd.id)).first():
        raise RuleViolation(
            f"round {rnd.number} already has a frozen roster; models cannot be swapped mid-round"
        )
    subs = (
        s.execute(
            select(m.Submission).where(m.Submission.round_id == rnd.id).order_by(m.Submission.id)
        )
        .scalars()
        .all()
    )
    if len(subs) < 2:
        raise RuleViolation("a user evaluation needs at least two models")
    aliases = rng.permutation(len(subs))
    rows = []
    for sub, k in zip(subs, aliases, strict=True):
        row = em.ArenaModel(
            round_id=rnd.id,
            submission_id=sub.id,
            alias=f"model-{int(k) + 1:02d}",
            endpoint=sub.endpoint,
            endpoint_digest=_digest(sub.endpoint),
        )
        rows.append(row)
    record_all(
        s,
        rows,
        actor=actor,
        kind="arena.roster_frozen",
        body={
            "round": rnd.number,
            "roster": [{"alias": r.alias, "endpoint_sha256": r.endpoint_digest} for r in rows],
        },
        at=now,
    )
    return rows


def roster(s: Session, rnd: m.Round) -> list[em.ArenaModel]:
    rows = (
        s.execute(
            select(em.ArenaModel).where(em.ArenaModel.round_id == rnd.id).order_by(em.ArenaModel.id)
        )
        .scalars()
        .all()
    )
    for r in rows:
        sub = s.get(m.Submission, r.submission_id)
        if sub is None or _digest(sub.endpoint) != r.endpoint_digest:
            raise RuleViolation(
                f"{r.alias}: the model behind it changed after the roster was frozen (variant swap)"
            )
    return list(rows)


def exposure_counts(
    s: Session, rnd: m.Round, models: Sequence[em.ArenaModel]
) -> tuple[np.ndarray, np.ndarray]:
    """Appearances per model and battles per pair so far in the round."""
    index = {r.id: i for i, r in enumerate(models)}
    n = len(models)
    app = np.zeros(n, dtype=np.int64)
    pc = np.zeros((n, n), dtype=np.int64)
    q = select(em.Battle.model_a, em.Battle.model_b).where(em.Battle.round_id == rnd.id)
    for a, b in s.execute(q).all():
        i, j = index[a], index[b]
        app[i] += 1
        app[j] += 1
        pc[i, j] += 1
        pc[j, i] += 1
    return app, pc


def start_battle(
    s: Session,
    rnd: m.Round,
    panelist: em.Panelist,
    prompt: str,
    *,
    prompt_source: str = "own",
    rng: np.random.Generator,
    now: datetime,
    models: Sequence[em.ArenaModel] | None = None,
    counts: tuple[np.ndarray, np.ndarray] | None = None,
) -> em.Battle:
    """Pick the next pair for equal exposure (sides randomly swapped) and open a battle.

    Bulk callers pass the roster and the running ``counts`` (updated in place) to avoid
    re-reading the round's battles for every new one.
    """
    ar.check_can_compare(rnd.number, rnd.status, panelist.status)
    if not prompt.strip():
        raise InputError("a battle needs a prompt")
    models = roster(s, rnd) if models is None else models
    if not models:
        raise RuleViolation(f"round {rnd.number} has no frozen roster")
    app, pc = exposure_counts(s, rnd, models) if counts is None else counts
    i, j = choose_pair(app, pc, rng)
    app[i] += 1
    app[j] += 1
    pc[i, j] += 1
    pc[j, i] += 1
    battle = em.Battle(
        round_id=rnd.id,
        panelist_id=panelist.id,
        model_a=models[i].id,
        model_b=models[j].id,
        prompt=prompt,
        prompt_source=prompt_source,
        status="pending",
        created_at=now,
    )
    record(
        s,
        battle,
        actor=f"panelist:{panelist.code}",
        kind="arena.battle_started",
        body=lambda r: {
            "battle": r.id,
            "round": rnd.number,
            "prompt_sha256": _digest(prompt),
            "prompt_source": prompt_source,
        },
        at=now,
    )
    return battle


def change_status(
    s: Session,
    battle: em.Battle,
    new: str,
    *,
    now: datetime,
    body: Mapping[str, Any] | None = None,
) -> None:
    """Move a battle to ``new`` and append ``arena.battle_<new>``: the one way a battle's status
    changes (votes aside: ``arena.votes`` writes ``arena.vote`` with the vote)."""
    ar.check_transition(battle.id, battle.status, new)
    battle.status = new
    panelist = s.get(em.Panelist, battle.panelist_id)
    append(
        s,
        actor=f"panelist:{panelist.code}" if panelist else "arena",
        kind=f"arena.battle_{new}",
        body={"battle": battle.id, **(body or {})},
        at=now,
    )


def record_answers(
    s: Session,
    battle: em.Battle,
    answer_a: str,
    answer_b: str,
    names: Sequence[str] = (),
    *,
    max_regenerations: int = 0,
    now: datetime,
) -> em.Battle:
    """Store both answers and make the battle ready, unless an answer reveals a model's
    identity: then nothing is shown, the battle stays pending for its answers to be generated
    again (``battle.regenerations`` counts the leaking pairs) and fails once that happened more
    than ``max_regenerations`` times. A leaking answer is never stored on the battle; the
    ledger keeps the digests of the pair that leaked."""
    leak = bool(
        find_leaks(answer_a, names, prompt=battle.prompt)
        or find_leaks(answer_b, names, prompt=battle.prompt)
    )
    body = {"answer_a_sha256": _digest(answer_a), "answer_b_sha256": _digest(answer_b)}
    if not leak:
        battle.answer_a, battle.answer_b, battle.leak = answer_a, answer_b, False
        change_status(s, battle, "ready", now=now, body=body)
        return battle
    battle.leak = True
    battle.regenerations = (battle.regenerations or 0) + 1
    panelist = s.get(em.Panelist, battle.panelist_id)
    append(
        s,
        actor=f"panelist:{panelist.code}" if panelist else "arena",
        kind="arena.answer_leaked",
        body={"battle": battle.id, "attempt": battle.regenerations, **body},
        at=now,
    )
    if battle.regenerations > max_regenerations:
        change_status(s, battle, "failed", now=now, body={"reason": "identity leak"})
    return battle


def battle_view(s: Session, battle: em.Battle) -> dict[str, Any]:
    """What a panelist may see: answers under neutral labels; identities only after the vote."""
    view: dict[str, Any] = {
        "battle": battle.id,
        "prompt": battle.prompt,
        "status": battle.status,
        "answers": {"A": battle.answer_a, "B": battle.answer_b},
    }
    if battle.status == "voted":
        view["revealed"] = {
            side: identity(s, mid) for side, mid in (("A", battle.model_a), ("B", battle.model_b))
        }
    return view


def identity(s: Session, arena_model_id: int) -> dict[str, str]:
    am = s.get(em.ArenaModel, arena_model_id)
    assert am is not None
    sub = s.get(m.Submission, am.submission_id)
    assert sub is not None
    team = s.get(m.Consortium, sub.consortium_id)
    return {"alias": am.alias, "model": sub.model_name, "team": team.name if team else ""}


@dataclass(frozen=True)
class RoundFit:
    models: tuple[str, ...]
    """Team names, in roster order."""
    rows: tuple[dict[str, Any], ...]
    field_win: Mapping[str, tuple[float, float, float]]
    """Expected win probability against the rest of the field: (value, lo, hi)."""
    n_votes: int
    n_leaks: int
    n_flagged: int
    likert: Mapping[str, Mapping[str, tuple[float, float, float]]]


def fit_round(
    s: Session,
    rnd: m.Round,
    *,
    rng: np.random.Generator,
    n_boot: int = 200,
    sprt: SPRTSettings | None = None,
) -> RoundFit:
    """Bradley-Terry on the round's scored votes (leaks and flagged panelists excluded), and the
    Likert summaries of the same votes (``arena.likert``: a cluster bootstrap over panelists,
    raked to the quotas when the rules' ``arena.weighting`` is ``raking``)."""
    models = roster(s, rnd)
    if not models:
        raise NotFoundError(f"round {rnd.number} has no roster")
    index = {r.id: i for i, r in enumerate(models)}
    names = tuple(identity(s, r.id)["team"] for r in models)
    q = (
        select(
            em.Battle.model_a,
            em.Battle.model_b,
            em.Battle.leak,
            em.Vote.outcome,
            em.Vote.panelist_id,
            em.Vote.reliability_a,
            em.Vote.practicality_a,
            em.Vote.reliability_b,
            em.Vote.practicality_b,
        )
        .join(em.Vote, em.Vote.battle_id == em.Battle.id)
        .where(em.Battle.round_id == rnd.id)
        .order_by(em.Vote.id)
    )
    rows = s.execute(q).all()
    if not rows:
        raise RuleViolation(f"round {rnd.number} has no votes to fit")
    leak = np.array([r[2] for r in rows], dtype=bool)
    a = np.array([index[r[0]] for r in rows], dtype=np.int64)
    b = np.array([index[r[1]] for r in rows], dtype=np.int64)
    o = np.array([OUTCOMES[r[3]] for r in rows], dtype=np.int64)
    who = [str(r[4]) for r in rows]
    keep = ~leak
    cells = deduplicate_battles(a[keep], b[keep], o[keep], len(models))
    beta = fit_bradley_terry(win_matrix(cells)).beta
    screen = screen_panelists(
        [w for w, k in zip(who, keep, strict=True) if k],
        a[keep],
        b[keep],
        o[keep],
        beta,
        sprt or SPRTSettings(),
    )
    flagged = screen.flagged
    keep2 = keep & np.array([w not in flagged for w in who])
    weights = _panel_weights(s, rnd)
    w_vote = None if weights is None else np.array([weights[w] for w in who])[keep2]
    cells = deduplicate_battles(a[keep2], b[keep2], o[keep2], len(models), weights=w_vote)
    level = svc.ruleset_of(svc.get_ruleset(s, rnd.ruleset_id)).interval_level
    ratings = rate(cells, names, rng, n_boot=n_boot, level=level)
    boots = bootstrap_bradley_terry(cells, rng, n_boot=n_boot)
    field = {}
    for i, name in enumerate(names):

        def win(beta_row: np.ndarray, i: int = i) -> float:
            others = np.delete(beta_row, i)
            return float(expit(beta_row[i] - others).mean())

        point = win(np.asarray(ratings.log_strength))
        samples = np.array([win(bb) for bb in boots])
        lo, hi = percentile_interval(samples, level, estimate=point)
        field[name] = (point, float(lo), float(hi))
    likert = _likert(rows, keep2, index, names, rng, n_boot, weights, level)
    return RoundFit(
        names,
        tuple(ratings.rows()),
        field,
        int(keep2.sum()),
        int(leak.sum()),
        screen.n_flagged,
        likert,
    )


def _panel_weights(s: Session, rnd: m.Round) -> dict[str, float] | None:
    """Raking weights per panelist id (as text) when the rules' ``arena.weighting`` is
    ``raking`` (targets: ``arena.quotas``, else the reference design); None otherwise."""
    pol = round_policy(s, rnd)
    if pol.weighting != "raking":
        return None
    people = s.execute(select(em.Panelist).where(em.Panelist.round_id == rnd.id)).scalars()
    panel = [
        PanelMember(str(p.id), p.gender, p.region, p.age_band, p.proficiency)  # type: ignore[arg-type]
        for p in people
    ]
    quotas = Quotas.from_dict(pol.quotas) if pol.quotas else reference_quotas()
    return raking_weights(panel, quotas)


def _likert(
    rows: Sequence[Any],
    keep: np.ndarray,
    index: Mapping[int, int],
    names: Sequence[str],
    rng: np.random.Generator,
    n_boot: int,
    weights: Mapping[str, float] | None,
    level: float,
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Each kept vote gives four ratings (reliability and practicality of A and of B)."""
    model, crit, score, who = [], [], [], []
    for r, k in zip(rows, keep, strict=True):
        if not k:
            continue
        for mid, c, x in ((r[0], 0, r[5]), (r[0], 1, r[6]), (r[1], 0, r[7]), (r[1], 1, r[8])):
            model.append(index[mid])
            crit.append(c)
            score.append(float(x))
            who.append(str(r[4]))
    if not model:
        return {}
    summary = likert_means(
        model,
        crit,
        score,
        models=names,
        rng=rng,
        weights=None if weights is None else [weights[x] for x in who],
        cluster=who,
        n_boot=n_boot,
        level=level,
    )
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for cell in summary.cells:
        out.setdefault(cell.model, {})[cell.criterion] = (cell.mean, cell.low, cell.high)
    return out

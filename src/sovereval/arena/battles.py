"""Battles on the store: a panelist's membership, starting, answering, failing and retrying.

A web user takes part in a round only through that round's ``Panelist`` row that names the
user (``Panelist.user_id``): membership is per round, so a panel code reused in another round
never hands one person another's battles. Every look-up here takes the user's id and never a
panelist id from the request, and a battle that is not the caller's is the same ``NotFoundError``
as a battle that does not exist.

Every change of a battle's status goes through ``arena.service.change_status``, which checks the move
against ``arena.rules.TRANSITIONS`` and appends its ledger event in the caller's transaction.
An answer that names a model of the round (``arena.leaks``) is never shown: the answers are
generated again, up to the rules' ``max_regenerations``, and the battle fails after that (the
panelist may retry it with a fresh pair). No vote is ever cast on it, so it does not count
against the daily cap.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sovereval.arena import rules as ar
from sovereval.arena import service as arena
from sovereval.arena.populate import PROMPTS
from sovereval.errors import NotFoundError, RuleViolation
from sovereval.store import evaluation_models as em
from sovereval.store import models as m

log = logging.getLogger("sovereval.arena")

STALE_MARGIN_S = 60.0
"""A battle still pending this long after its generation timeout lost the worker that ran it."""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- membership and reads -------------------------------------------------------------


def membership(s: Session, user_id: int, round_id: int) -> em.Panelist | None:
    q = select(em.Panelist).where(em.Panelist.round_id == round_id, em.Panelist.user_id == user_id)
    return s.execute(q).scalar_one_or_none()


def votes_today(s: Session, panelist: em.Panelist, now: datetime, offset_hours: int) -> int:
    q = select(func.count(em.Vote.id)).where(
        em.Vote.panelist_id == panelist.id, em.Vote.at >= ar.day_start(now, offset_hours)
    )
    return int(s.execute(q).scalar_one())


def panelist_rounds(s: Session, user_id: int, now: datetime) -> list[dict[str, Any]]:
    """The open rounds the user is a panelist of, with the day's vote count against the cap."""
    q = (
        select(em.Panelist, m.Round, m.Programme)
        .join(m.Round, m.Round.id == em.Panelist.round_id)
        .join(m.Programme, m.Programme.id == m.Round.programme_id)
        .where(em.Panelist.user_id == user_id, m.Round.status == "open")
        .order_by(m.Round.id)
    )
    out = []
    for p, rnd, prog in s.execute(q).all():
        pol = arena.round_policy(s, rnd)
        out.append(
            {
                "round_id": rnd.id,
                "round": rnd.number,
                "name": rnd.name or f"Round {rnd.number}",
                "programme": prog.name,
                "status": p.status,
                "votes_today": votes_today(s, p, now, pol.day_offset_hours),
                "daily_cap": pol.daily_cap,
                "curated": len(pol.prompts or PROMPTS),
            }
        )
    return out


def own_battle(s: Session, user_id: int, battle_id: int) -> tuple[em.Battle, em.Panelist]:
    """The user's battle; anyone else's (or a missing one) is the same 404."""
    battle = s.get(em.Battle, battle_id)
    panelist = s.get(em.Panelist, battle.panelist_id) if battle is not None else None
    if battle is None or panelist is None or panelist.user_id != user_id:
        raise NotFoundError(f"no battle with id {battle_id}")
    return battle, panelist


def recent_battles(s: Session, user_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
    """The user's latest battles (prompt and status only: no answers, no identities)."""
    q = (
        select(em.Battle)
        .join(em.Panelist, em.Panelist.id == em.Battle.panelist_id)
        .where(em.Panelist.user_id == user_id)
        .order_by(em.Battle.id.desc())
        .limit(limit)
    )
    return [
        {"id": b.id, "prompt": b.prompt, "status": b.status, "created_at": b.created_at}
        for b in s.execute(q).scalars()
    ]


def is_stale(s: Session, battle: em.Battle, now: datetime) -> bool:
    """Still pending long after its generation should have ended (its worker stopped)."""
    if battle.status != "pending":
        return False
    rnd = s.get(m.Round, battle.round_id)
    assert rnd is not None
    limit = arena.round_policy(s, rnd).answer_timeout_s + STALE_MARGIN_S
    created = battle.created_at
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    return (now - created).total_seconds() > limit


def visible_status(s: Session, battle: em.Battle, now: datetime) -> str:
    """The status a panelist is shown: a stale pending battle is reported as failed."""
    return "failed" if is_stale(s, battle, now) else battle.status


# -- starting and retrying ------------------------------------------------------------


def _roster(s: Session, rnd: m.Round) -> list[em.ArenaModel]:
    """The frozen roster; an integrity failure is reported without naming the model (the
    alias in the roster check's message would tell the panelist which model is which)."""
    try:
        models = arena.roster(s, rnd)
    except RuleViolation as exc:
        log.error("arena roster check failed in round %s: %s", rnd.id, exc)
        raise RuleViolation(
            "this round's models failed their integrity check; the organisers must resolve it "
            "before comparisons continue"
        ) from None
    if len(models) < 2:
        raise RuleViolation("this round has no frozen roster of models yet; try again later")
    return models


def open_battle(
    s: Session,
    user_id: int,
    round_id: int,
    prompt: str,
    *,
    source: str,
    rng: np.random.Generator,
    now: datetime,
) -> em.Battle:
    """Open a battle for the user: their own prompt, or one drawn from the curated set."""
    rnd = s.get(m.Round, round_id)
    panelist = membership(s, user_id, round_id) if rnd is not None else None
    if rnd is None or panelist is None:
        raise NotFoundError(f"you are not on the panel of round {round_id}")
    ar.check_can_compare(rnd.number, rnd.status, panelist.status)
    pol = arena.round_policy(s, rnd)
    if votes_today(s, panelist, now, pol.day_offset_hours) >= pol.daily_cap:
        raise RuleViolation(
            f"you reached today's limit of {pol.daily_cap} votes; come back tomorrow"
        )
    prompt = ar.choose_prompt(prompt, source, pol, PROMPTS, rng)
    return arena.start_battle(
        s, rnd, panelist, prompt, prompt_source=source, rng=rng, now=now, models=_roster(s, rnd)
    )


def retry_battle(
    s: Session, user_id: int, battle_id: int, *, rng: np.random.Generator, now: datetime
) -> em.Battle:
    """Replace a failed battle with a new one on the same prompt (a fresh pair, fresh answers).

    The failed battle stays on record as retried and is never scored; the row lock makes two
    concurrent retries of the same battle start only one replacement.
    """
    battle, panelist = own_battle(s, user_id, battle_id)
    s.refresh(battle, with_for_update=True)
    if not (battle.status == "failed" or is_stale(s, battle, now)):
        raise RuleViolation(f"battle {battle.id} is {battle.status}; only a failed one is retried")
    rnd = s.get(m.Round, battle.round_id)
    assert rnd is not None
    ar.check_can_compare(rnd.number, rnd.status, panelist.status)
    models = _roster(s, rnd)
    new = arena.start_battle(
        s,
        rnd,
        panelist,
        battle.prompt,
        prompt_source=battle.prompt_source,
        rng=rng,
        now=now,
        models=models,
    )
    arena.change_status(s, battle, "retried", now=now, body={"replaced_by": new.id})
    return new


# -- answer generation (called by the background runner) ------------------------------


def generation_job(s: Session, battle_id: int) -> dict[str, Any] | None:
    """What the runner needs to answer a pending battle; None if it is no longer pending."""
    battle = s.get(em.Battle, battle_id)
    if battle is None or battle.status != "pending":
        return None
    a = s.get(em.ArenaModel, battle.model_a)
    b = s.get(em.ArenaModel, battle.model_b)
    rnd = s.get(m.Round, battle.round_id)
    assert a is not None and b is not None and rnd is not None
    pol = arena.round_policy(s, rnd)
    return {
        "battle": battle.id,
        "prompt": battle.prompt,
        "endpoint_a": a.endpoint,
        "endpoint_b": b.endpoint,
        "names": identity_names(s, rnd),
        "timeout_s": pol.answer_timeout_s,
        "max_tokens": pol.max_tokens,
        "temperature": pol.temperature,
        "max_regenerations": pol.max_regenerations,
    }


def identity_names(s: Session, rnd: m.Round) -> list[str]:
    """Model and team names of the round's roster: an answer naming one of them is a leak."""
    names: list[str] = []
    for r in s.execute(select(em.ArenaModel).where(em.ArenaModel.round_id == rnd.id)).scalars():
        ident = arena.identity(s, r.id)
        names += [ident["model"], ident["team"]]
    return [n for n in names if n]


AnswerOutcome = Literal["ready", "regenerate", "failed", "gone"]


def store_answers(
    s: Session,
    battle_id: int,
    answer_a: str,
    answer_b: str,
    names: Sequence[str],
    *,
    max_regenerations: int,
    now: datetime,
) -> AnswerOutcome:
    """Store a pending battle's answers. ``regenerate``: an answer named a model, nothing was
    shown, generate again; ``failed``: it kept naming one; ``gone``: no longer pending."""
    battle = s.get(em.Battle, battle_id)
    if battle is None or battle.status != "pending":
        return "gone"
    arena.record_answers(
        s, battle, answer_a, answer_b, names, max_regenerations=max_regenerations, now=now
    )
    if battle.status == "ready":
        return "ready"
    return "failed" if battle.status == "failed" else "regenerate"


def mark_failed(s: Session, battle_id: int, *, now: datetime) -> None:
    """A model call failed or timed out: the battle fails (the panelist may retry it)."""
    battle = s.get(em.Battle, battle_id, with_for_update=True)
    if battle is not None and battle.status == "pending":
        arena.change_status(s, battle, "failed", now=now, body={"reason": "generation"})

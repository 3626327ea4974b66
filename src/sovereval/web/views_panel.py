"""The panelist's side of the arena for the web: rounds, battles, prompts and what may be shown.

A panelist is the web user whose username equals a round's ``Panelist.code``. Everything here
takes that user and never a panelist id from the request, so no parameter can point one
panelist at another's battles: a battle that is not the caller's answers 404, exactly like a
battle that does not exist.

The anonymity rule is enforced by construction: :func:`battle_out` is the only read model of a
battle, it carries the answers under the labels "A" and "B" and nothing that identifies a model
(no alias, no roster id, no endpoint), and it adds the identities only once the battle has a
vote (``arena.service.battle_view``, gated by ``policy.panelist_can_see_identities``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sovereval.arena import service as arena
from sovereval.arena.populate import PROMPTS
from sovereval.competition import service as svc
from sovereval.competition.rules import RuleSet
from sovereval.errors import InputError, NotFoundError, RuleViolation
from sovereval.store import evaluation_models as em
from sovereval.store import models as m
from sovereval.store.web_models import User
from sovereval.web import policy

log = logging.getLogger("sovereval.web.arena")

ARENA_DEFAULTS: dict[str, Any] = {
    "daily_cap": 50,
    "day_offset_hours": 9,
    "answer_timeout_s": 120.0,
    "max_tokens": 512,
    "temperature": 0.7,
    "max_prompt_chars": 4000,
}
"""User-evaluation settings used when the round's RuleSet ``arena`` section leaves them out.
``day_offset_hours`` places the daily cap's midnight (KST = UTC+9 by default); ``prompts`` (a
list of strings) is the round's curated prompt set, the package's example prompts otherwise."""

MAX_PROMPT_CHARS = 4000


def arena_policy(rules: RuleSet) -> dict[str, Any]:
    return {**ARENA_DEFAULTS, **dict(rules.arena)}


def rules_of(s: Session, rnd: m.Round) -> RuleSet:
    return svc.ruleset_of(svc.get_ruleset(s, rnd.ruleset_id))


def curated_prompts(rules: RuleSet) -> tuple[str, ...]:
    """The round's curated prompt set (RuleSet ``arena.prompts``), else the package's examples."""
    raw = rules.arena.get("prompts")
    prompts = tuple(str(p) for p in raw if str(p).strip()) if isinstance(raw, list) else ()
    return prompts or PROMPTS


def day_start(now: datetime, offset_hours: int) -> datetime:
    """Start of the panelist's day: local midnight at UTC+offset (the same rule as the service)."""
    local = now.astimezone(UTC) + timedelta(hours=offset_hours)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(hours=offset_hours)


def votes_today(s: Session, panelist: em.Panelist, now: datetime, offset_hours: int) -> int:
    q = select(func.count(em.Vote.id)).where(
        em.Vote.panelist_id == panelist.id, em.Vote.at >= day_start(now, offset_hours)
    )
    return int(s.execute(q).scalar_one())


def _panelist(s: Session, user: User, round_id: int) -> em.Panelist | None:
    q = select(em.Panelist).where(
        em.Panelist.round_id == round_id, em.Panelist.code == user.username
    )
    return s.execute(q).scalar_one_or_none()


def panelist_rounds(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    """The open rounds the caller is enrolled in, with the day's vote count against the cap."""
    q = (
        select(em.Panelist, m.Round, m.Programme)
        .join(m.Round, m.Round.id == em.Panelist.round_id)
        .join(m.Programme, m.Programme.id == m.Round.programme_id)
        .where(em.Panelist.code == user.username, m.Round.status == "open")
        .order_by(m.Round.id)
    )
    out = []
    for p, rnd, prog in s.execute(q).all():
        pol = arena_policy(rules_of(s, rnd))
        out.append(
            {
                "round_id": rnd.id,
                "round": rnd.number,
                "name": rnd.name or f"Round {rnd.number}",
                "programme": prog.name,
                "status": p.status,
                "votes_today": votes_today(s, p, now, int(pol["day_offset_hours"])),
                "daily_cap": int(pol["daily_cap"]),
                "curated": len(curated_prompts(rules_of(s, rnd))),
            }
        )
    return out


def own_battle(s: Session, user: User, battle_id: int) -> tuple[em.Battle, em.Panelist]:
    """The caller's battle; anyone else's (or a missing one) is the same 404."""
    battle = s.get(em.Battle, battle_id)
    panelist = s.get(em.Panelist, battle.panelist_id) if battle is not None else None
    if battle is None or panelist is None or panelist.code != user.username:
        raise NotFoundError(f"no battle with id {battle_id}")
    return battle, panelist


def recent_battles(s: Session, user: User, *, limit: int = 20) -> list[dict[str, Any]]:
    """The caller's latest battles (prompt and status only: no answers, no identities)."""
    q = (
        select(em.Battle)
        .join(em.Panelist, em.Panelist.id == em.Battle.panelist_id)
        .where(em.Panelist.code == user.username)
        .order_by(em.Battle.id.desc())
        .limit(limit)
    )
    return [
        {"id": b.id, "prompt": b.prompt, "status": b.status, "created_at": b.created_at}
        for b in s.execute(q).scalars()
    ]


STALE_MARGIN_S = 60.0
"""A battle still pending this long after its generation timeout lost the worker that ran it."""


def _stale(s: Session, battle: em.Battle, now: datetime) -> bool:
    if battle.status != "pending":
        return False
    rnd = s.get(m.Round, battle.round_id)
    assert rnd is not None
    limit = float(arena_policy(rules_of(s, rnd))["answer_timeout_s"]) + STALE_MARGIN_S
    created = battle.created_at
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    return (now - created).total_seconds() > limit


def battle_out(
    s: Session, battle: em.Battle, viewer: User, *, now: datetime, vote: em.Vote | None = None
) -> dict[str, Any]:
    """The one read model of a battle a panelist gets (page and API alike).

    Answers appear once both are in; ``revealed`` (alias, model, team per side) and the vote
    only after the vote. A battle still pending long after its generation should have ended
    (the worker that ran it stopped) is reported as failed, so the panelist can retry it.
    """
    status = "failed" if _stale(s, battle, now) else battle.status
    out: dict[str, Any] = {
        "id": battle.id,
        "round_id": battle.round_id,
        "prompt": battle.prompt,
        "prompt_source": battle.prompt_source,
        "status": status,
        "answers": None,
        "revealed": None,
        "vote": None,
    }
    if status in ("ready", "voted"):
        view = arena.battle_view(s, battle)
        out["answers"] = {"A": view["answers"]["A"], "B": view["answers"]["B"]}
        if policy.panelist_can_see_identities(viewer, has_voted=status == "voted"):
            out["revealed"] = view.get("revealed")
            v = (
                vote
                or s.execute(select(em.Vote).where(em.Vote.battle_id == battle.id)).scalar_one()
            )
            out["vote"] = {
                "outcome": v.outcome,
                "reliability_a": v.reliability_a,
                "practicality_a": v.practicality_a,
                "reliability_b": v.reliability_b,
                "practicality_b": v.practicality_b,
                "comment": v.comment,
                "at": v.at.isoformat(),
            }
    return out


def _roster(s: Session, rnd: m.Round) -> list[em.ArenaModel]:
    """The frozen roster; an integrity failure is reported without naming the model (the
    alias in the service's message would tell the panelist which model is which)."""
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


def start(
    s: Session,
    user: User,
    round_id: int,
    prompt: str,
    *,
    source: str,
    rng: np.random.Generator,
    now: datetime,
) -> em.Battle:
    """Open a battle for the caller: their own prompt, or one drawn from the curated set."""
    rnd = s.get(m.Round, round_id)
    panelist = _panelist(s, user, round_id) if rnd is not None else None
    if rnd is None or panelist is None:
        raise NotFoundError(f"you are not on the panel of round {round_id}")
    if rnd.status != "open":
        raise RuleViolation(f"round {rnd.number} is {rnd.status}; comparisons run while it is open")
    if panelist.status != "active":
        raise RuleViolation(f"your panel membership is {panelist.status}; no new comparisons")
    rules = rules_of(s, rnd)
    pol = arena_policy(rules)
    cap = int(pol["daily_cap"])
    if votes_today(s, panelist, now, int(pol["day_offset_hours"])) >= cap:
        raise RuleViolation(f"you reached today's limit of {cap} votes; come back tomorrow")
    if source == "curated":
        pool = curated_prompts(rules)
        prompt = pool[int(rng.integers(len(pool)))]
    elif source != "own":
        raise InputError("prompt source must be 'own' or 'curated'")
    prompt = prompt.strip()
    if not prompt:
        raise InputError("write a prompt, or draw one from the curated set")
    limit = int(pol["max_prompt_chars"])
    if len(prompt) > limit:
        raise InputError(f"the prompt has {len(prompt)} characters; the limit is {limit}")
    models = _roster(s, rnd)
    return arena.start_battle(
        s, rnd, panelist, prompt, prompt_source=source, rng=rng, now=now, models=models
    )


def retry(
    s: Session,
    user: User,
    battle_id: int,
    *,
    rng: np.random.Generator,
    now: datetime,
) -> em.Battle:
    """Replace a failed battle with a new one on the same prompt (a fresh pair, fresh answers).

    The failed battle stays on record as failed and is never scored; the conditional update
    makes two concurrent retries of the same battle start only one replacement.
    """
    battle, panelist = own_battle(s, user, battle_id)
    if not (battle.status == "failed" or _stale(s, battle, now)):
        raise RuleViolation(f"battle {battle.id} is {battle.status}; only a failed one is retried")
    done = s.execute(
        update(em.Battle)
        .where(em.Battle.id == battle.id, em.Battle.status.in_(("pending", "failed")))
        .values(status="retried")
    )
    if getattr(done, "rowcount", 1) != 1:
        raise RuleViolation(f"battle {battle.id} was retried already")
    rnd = s.get(m.Round, battle.round_id)
    assert rnd is not None
    if rnd.status != "open":
        raise RuleViolation(f"round {rnd.number} is {rnd.status}; comparisons run while it is open")
    models = _roster(s, rnd)
    return arena.start_battle(
        s,
        rnd,
        panelist,
        battle.prompt,
        prompt_source=battle.prompt_source,
        rng=rng,
        now=now,
        models=models,
    )


# -- answer generation (called by the background runner) -----------------------------------


def generation_job(s: Session, battle_id: int) -> dict[str, Any] | None:
    """What the runner needs to answer a pending battle; None if it is no longer pending."""
    battle = s.get(em.Battle, battle_id)
    if battle is None or battle.status != "pending":
        return None
    a = s.get(em.ArenaModel, battle.model_a)
    b = s.get(em.ArenaModel, battle.model_b)
    rnd = s.get(m.Round, battle.round_id)
    assert a is not None and b is not None and rnd is not None
    pol = arena_policy(rules_of(s, rnd))
    return {
        "battle": battle.id,
        "prompt": battle.prompt,
        "endpoint_a": a.endpoint,
        "endpoint_b": b.endpoint,
        "names": identity_names(s, rnd),
        "timeout_s": float(pol["answer_timeout_s"]),
        "max_tokens": int(pol["max_tokens"]),
        "temperature": float(pol["temperature"]),
    }


def identity_names(s: Session, rnd: m.Round) -> list[str]:
    """Model and team names of the round's roster: an answer naming one of them is a leak."""
    names: list[str] = []
    for r in s.execute(select(em.ArenaModel).where(em.ArenaModel.round_id == rnd.id)).scalars():
        ident = arena.identity(s, r.id)
        names += [ident["model"], ident["team"]]
    return [n for n in names if n]


def store_answers(
    s: Session, battle_id: int, answer_a: str, answer_b: str, names: list[str]
) -> bool:
    battle = s.get(em.Battle, battle_id)
    if battle is None or battle.status != "pending":
        return False
    arena.record_answers(s, battle, answer_a, answer_b, names)
    return True


def mark_failed(s: Session, battle_id: int) -> None:
    s.execute(
        update(em.Battle)
        .where(em.Battle.id == battle_id, em.Battle.status == "pending")
        .values(status="failed")
    )


def parse_vote_form(form: Mapping[str, Any]) -> arena.VoteInput:
    """Parse the page's vote form (the API uses its pydantic schema instead)."""
    try:
        ratings = [
            int(str(form.get(k, "")))
            for k in ("reliability_a", "practicality_a", "reliability_b", "practicality_b")
        ]
    except ValueError:
        raise InputError("rate both answers for reliability and practicality (1-5)") from None
    comment = str(form.get("comment", "") or "")
    if len(comment) > 2000:
        raise InputError("the comment is limited to 2000 characters")
    rel_a, prac_a, rel_b, prac_b = ratings
    outcome = str(form.get("outcome", "")).lower()
    return arena.VoteInput(outcome, rel_a, prac_a, rel_b, prac_b, comment=comment)

"""The panelist's side of the arena for the web: parse, call ``arena.battles`` / ``arena.votes``,
and build what may be shown.

A panelist is the web user named by a round's ``Panelist.user_id`` (membership is per round).
Everything here takes that user and never a panelist id from the request, so no parameter can
point one panelist at another's battles: a battle that is not the caller's answers 404, exactly
like a battle that does not exist. The rules themselves (round open, panelist active, daily cap,
prompt length, battle states) live in ``arena``.

The anonymity rule is enforced by construction: :func:`battle_out` is the only read model of a
battle, it carries the answers under the labels "A" and "B" and nothing that identifies a model
(no alias, no roster id, no endpoint), and it adds the identities only once the battle has a
vote (``arena.service.battle_view``, gated by ``policy.panelist_can_see_identities``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.arena import battles
from sovereval.arena import service as arena
from sovereval.errors import InputError
from sovereval.store import evaluation_models as em
from sovereval.store.web_models import User
from sovereval.web import policy


def panelist_rounds(s: Session, user: User, now: datetime) -> list[dict[str, Any]]:
    return battles.panelist_rounds(s, user.id, now)


def own_battle(s: Session, user: User, battle_id: int) -> tuple[em.Battle, em.Panelist]:
    return battles.own_battle(s, user.id, battle_id)


def recent_battles(s: Session, user: User, *, limit: int = 20) -> list[dict[str, Any]]:
    return battles.recent_battles(s, user.id, limit=limit)


def battle_out(
    s: Session, battle: em.Battle, viewer: User, *, now: datetime, vote: em.Vote | None = None
) -> dict[str, Any]:
    """The one read model of a battle a panelist gets (page and API alike).

    Answers appear once both are in; ``revealed`` (alias, model, team per side) and the vote
    only after the vote. A battle still pending long after its generation should have ended
    (the worker that ran it stopped) is reported as failed, so the panelist can retry it.
    """
    status = battles.visible_status(s, battle, now)
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


def start(s: Session, user: User, round_id: int, prompt: str, **kw: Any) -> em.Battle:
    """``arena.battles.open_battle`` for the signed-in user (``source``, ``rng``, ``now``)."""
    return battles.open_battle(s, user.id, round_id, prompt, **kw)


def retry(s: Session, user: User, battle_id: int, **kw: Any) -> em.Battle:
    """``arena.battles.retry_battle`` for the signed-in user (``rng``, ``now``)."""
    return battles.retry_battle(s, user.id, battle_id, **kw)


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

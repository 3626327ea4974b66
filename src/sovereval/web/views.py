"""Read models for pages and the API: plain dicts assembled from the store.

Public functions here return published data only (that is their contract, and the tests hold
them to it); functions taking a team user query by that user's consortium; staff functions may
return drafts. Charts are described as Plotly figure specs (data + layout) that the bundled
``static/app.js`` draws, so pages carry no inline script.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sovereval.competition import results_service as rs
from sovereval.competition import service as svc
from sovereval.competition.appeals import appeal_deadline
from sovereval.competition.rules import RuleSet
from sovereval.errors import NotFoundError
from sovereval.store import models as m
from sovereval.web.policy import public_rule_status


def when(t: datetime | str | None) -> str:
    """A time as people read it on a page: ``2026-01-16 09:00 UTC`` (minutes, no microseconds).

    Naive times are the store's UTC (SQLite drops the zone); ISO strings are parsed first.
    """
    if t is None or t == "":
        return ""
    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t)
        except ValueError:
            return str(t)
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M UTC")


CATEGORY_COLOURS = {"benchmark": "#2b6cb0", "expert": "#2f855a", "user": "#b7791f"}


def programme(s: Session, programme_id: int) -> m.Programme:
    p = s.get(m.Programme, programme_id)
    if p is None:
        raise NotFoundError(f"no programme with id {programme_id}")
    return p


def programmes(s: Session) -> list[dict[str, Any]]:
    rows = s.execute(select(m.Programme).order_by(m.Programme.id)).scalars().all()
    return [{"id": p.id, "name": p.name, "description": p.description} for p in rows]


def rounds_public(s: Session, prog: m.Programme) -> list[dict[str, Any]]:
    out = []
    for r in s.execute(
        select(m.Round).where(m.Round.programme_id == prog.id).order_by(m.Round.number)
    ).scalars():
        card = rs.latest_scorecard(s, r, published_only=True)
        out.append(
            {
                "number": r.number,
                "name": r.name,
                "status": r.status,
                "opens_at": r.opens_at.isoformat(),
                "closes_at": r.closes_at.isoformat(),
                "published": card is not None,
                "issue": card.issue if card else None,
            }
        )
    return out


def latest_published_ref(s: Session, programme_id: int) -> tuple[int, int] | None:
    """``(scorecard id, round number)`` of the newest published results, in one query.

    Published scorecards never change (a correction is a new issue), so the id is a cache key.
    """
    row = s.execute(
        select(m.Scorecard.id, m.Round.number)
        .join(m.Round, m.Round.id == m.Scorecard.round_id)
        .where(m.Round.programme_id == programme_id, m.Scorecard.published.is_(True))
        .order_by(m.Round.number.desc(), m.Scorecard.issue.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def published_results(s: Session, card: m.Scorecard, rnd: m.Round) -> dict[str, Any]:
    """A published scorecard as the public sees it, ranked, with chart specs."""
    if not card.published:  # defence in depth: callers only pass published cards
        raise NotFoundError(f"round {rnd.number} has no published results")
    content = card.content
    teams = with_rank_range(sorted(content["teams"], key=lambda t: t["rank"]))
    created = card.created_at if card.created_at.tzinfo else card.created_at.replace(tzinfo=UTC)
    upheld = [
        a.id
        for a in s.execute(
            select(m.Appeal).where(m.Appeal.round_id == rnd.id, m.Appeal.status == "upheld")
        ).scalars()
        if a.decided_at is not None
        and (a.decided_at if a.decided_at.tzinfo else a.decided_at.replace(tzinfo=UTC)) <= created
    ]
    return {
        "round": {"number": rnd.number, "name": rnd.name, "status": rnd.status},
        "issue": card.issue,
        "reissue_appeals": upheld if card.issue > 1 else [],
        "issued_at": when(created),
        "published_at": rnd.published_at.isoformat() if rnd.published_at else None,
        "rules": content["rules"],
        "teams": teams,
        "part_keys": [p["key"] for p in teams[0]["parts"]] if teams else [],
        "charts": {"breakdown": breakdown_chart(teams), "ranks": rank_chart(teams)},
    }


def round_results_public(s: Session, prog: m.Programme, number: int) -> dict[str, Any] | None:
    rnd = svc.get_round(s, prog, number)
    card = rs.latest_scorecard(s, rnd, published_only=True)
    return None if card is None else published_results(s, card, rnd)


def with_rank_range(teams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``rank_best`` and ``rank_worst``: the ranks the intervals leave open.

    The scorecard's ``rank_upper`` is 1 + the number of teams whose lower bound lies above this
    team's upper bound (teams certainly ahead), i.e. the best plausible rank. The worst
    plausible rank is the mirror image: the number of teams minus those certainly behind (upper
    bound below this team's lower bound). This is the interval-overlap rule used for ranking
    with uncertainty in leaderboards (cf. Chatbot Arena's rank from CI overlap).
    """
    eligible = [t for t in teams if t.get("decision") != "disqualify"]
    n = len(eligible)
    out = []
    for t in teams:
        if t.get("decision") == "disqualify":  # out of the ranking: no plausible ranks
            out.append({**t, "rank_best": None, "rank_worst": None})
            continue
        behind = sum(1 for o in eligible if o is not t and o["total_hi"] < t["total_lo"])
        out.append({**t, "rank_best": t["rank_upper"], "rank_worst": max(t["rank"], n - behind)})
    return out


def breakdown_chart(teams: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked category points per team with the total's interval as an error bar."""
    names = [t["team"] for t in teams][::-1]
    data: list[dict[str, Any]] = []
    for cat, colour in CATEGORY_COLOURS.items():
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": cat,
                "y": names,
                "x": [round(t["categories"][cat]["points"], 3) for t in teams][::-1],
                "marker": {"color": colour},
                "hovertemplate": "%{y}: %{x:.2f} (" + cat + ")<extra></extra>",
            }
        )
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "total [interval]",
            "y": names,
            "x": [round(t["total"], 3) for t in teams][::-1],
            "marker": {"color": "#1a202c", "symbol": "line-ns-open", "size": 14},
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [round(t["total_hi"] - t["total"], 3) for t in teams][::-1],
                "arrayminus": [round(t["total"] - t["total_lo"], 3) for t in teams][::-1],
                "color": "#1a202c",
                "thickness": 1.5,
            },
        }
    )
    return {
        "data": data,
        "layout": {
            "barmode": "stack",
            "height": 90 + 42 * len(teams),
            "margin": {"l": 140, "r": 10, "t": 40, "b": 40},
            "xaxis": {"title": {"text": "points (of 100)"}, "range": [0, 100]},
            "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        },
    }


def rank_chart(teams: list[dict[str, Any]]) -> dict[str, Any]:
    """Rank stability: each team's rank with the range of ranks its interval leaves open."""
    teams = [t for t in teams if t["rank_best"] is not None]  # disqualified: not ranked
    names = [t["team"] for t in teams]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "rank (bar: best to worst plausible rank)",
                "x": names,
                "y": [t["rank"] for t in teams],
                "marker": {"size": 11, "color": "#2b6cb0"},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [max(0, t["rank_worst"] - t["rank"]) for t in teams],
                    "arrayminus": [max(0, t["rank"] - t["rank_best"]) for t in teams],
                    "color": "#2b6cb0",
                },
            }
        ],
        "layout": {
            "height": 280,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 80},
            "yaxis": {"title": {"text": "rank"}, "autorange": "reversed", "dtick": 1},
        },
    }


def rule_versions(s: Session, rnd: m.Round, *, public: bool) -> list[dict[str, Any]]:
    """The round's rule versions, oldest first, each with its diff against the previous one."""
    out: list[dict[str, Any]] = []
    # The version in force when this round opened; only later versions changed its rules.
    at_open = s.get(m.RuleSetRow, rnd.opened_ruleset_id) if rnd.opened_ruleset_id else None
    for v in svc.rule_versions(s, rnd):
        if public and not public_rule_status(v["status"]):
            continue
        cur = RuleSet.from_dict(v["content"])
        # An amendment made for an earlier round, before this one opened, is history here,
        # not a change after this round opened.
        after_open = at_open is not None and int(v["version"]) > at_open.version
        v = {**v, "amendment": bool(v["amendment"]) and after_open}
        out.append(
            {
                **{
                    k: v[k]
                    for k in (
                        "id",
                        "name",
                        "version",
                        "status",
                        "hash",
                        "amendment",
                        "rationale",
                        "at",
                    )
                },
                "changes": [
                    {"path": c["path"], "old": _show(c["old"]), "new": _show(c["new"])}
                    for c in v["changes"]
                ],
                "parts": [
                    {"key": p.key, "category": p.category, "points": p.points, "title": p.title}
                    for p in cur.parts
                ],
                "appeal_window_days": cur.appeal_window_days,
            }
        )
    return out


def _show(v: Any) -> str:
    return "—" if v is None else str(v)


def appeal_window(s: Session, rnd: m.Round, now: datetime) -> dict[str, Any]:
    """The round's appeal window as of ``now``: it runs from the first publication of results
    (a reissued scorecard does not reopen it), so ``open`` is false once the deadline passed."""
    rules = svc.ruleset_of(svc.get_ruleset(s, rnd.ruleset_id))
    if rnd.published_at is None:
        return {
            "published": False,
            "open": False,
            "deadline": None,
            "days": rules.appeal_window_days,
        }
    published = rnd.published_at
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    deadline = appeal_deadline(published, rules.appeal_window_days)
    return {
        "published": True,
        "open": now < deadline,
        "deadline": deadline,
        "days": rules.appeal_window_days,
    }

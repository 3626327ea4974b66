"""The authorisation table: who may reach which route, in one place.

Every route of the application has exactly one :class:`Rule` here, keyed by the route's name.
:func:`sovereval.web.auth.enforce` (an app-wide dependency) looks the rule up on every request
and refuses anything the rule does not allow; a route without a rule is refused (fail closed),
and ``tests/web/test_policy_matrix.py`` checks every route of the app against every role.

Three kinds of rule combine:

- **roles**: which roles reach the route at all (``public`` is the anonymous visitor).
- **subject**: an object check on a path parameter. ``submission`` means the submission named
  by ``submission_id`` must be visible to the caller: staff see all, a team only its own, an
  expert only those assigned to them (:func:`expert_can_see`). Failing it answers 404, exactly
  as for a submission that does not exist, so ids of other teams' work leak nothing.
- **limit**: the rate-limit bucket (``login`` per client address, ``write`` per user).

Data scoping that cannot be expressed per route is done by construction and tested: public
pages read only published scorecards and non-draft rule versions (:func:`public_rule_status`);
team pages query by the caller's own ``consortium_id``; panel pages never carry model
identities before a vote (:func:`panelist_can_see_identities`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from sovereval.store import models as m
from sovereval.store.web_models import User

Role = Literal["admin", "evaluator", "expert", "team", "panelist", "public"]
ROLES: tuple[Role, ...] = ("admin", "evaluator", "expert", "team", "panelist", "public")
Subject = Literal["submission"]
Limit = Literal["login", "write"]

EVERYONE: frozenset[Role] = frozenset(ROLES)
SIGNED_IN: frozenset[Role] = EVERYONE - {"public"}
STAFF: frozenset[Role] = frozenset({"admin", "evaluator"})
ADMIN: frozenset[Role] = frozenset({"admin"})
TEAM: frozenset[Role] = frozenset({"team"})
EXPERT: frozenset[Role] = frozenset({"expert"})
PANELIST: frozenset[Role] = frozenset({"panelist"})


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    subject: Subject | None = None
    limit: Limit | None = None
    why: str = ""


def _r(
    roles: frozenset[Role],
    subject: Subject | None = None,
    limit: Limit | None = None,
    why: str = "",
) -> Rule:
    return Rule(roles, subject, limit, why)


POLICY: Mapping[str, Rule] = {
    # -- not APIRoutes: no dependency runs, so these must stay public (asserted by the tests) --
    "static": _r(EVERYONE, why="bundled CSS/JS, no data"),
    "openapi": _r(EVERYONE, why="API schema, no data"),
    # -- public pages ---------------------------------------------------------------------
    "home": _r(EVERYONE),
    "favicon": _r(EVERYONE, why="bundled icon, no data"),
    "language": _r(EVERYONE, why="sets the interface-language cookie only"),
    "healthz": _r(EVERYONE),
    "readyz": _r(EVERYONE, why="database reachable and migrated; no data"),
    "programme": _r(EVERYONE, why="published data only"),
    "leaderboard": _r(EVERYONE, why="latest published scorecard only"),
    "round_results": _r(EVERYONE, why="published scorecard only"),
    "round_rules": _r(EVERYONE, why="published, frozen and superseded versions; never drafts"),
    "report": _r(EVERYONE, why="transparency report of published results"),
    "ledger": _r(EVERYONE, why="head hash, kinds and hashes; no payloads; no account events"),
    "ledger_export": _r(STAFF, why="full JSONL export with payloads; organisers publish it"),
    "login_form": _r(EVERYONE),
    "login": _r(EVERYONE, limit="login"),
    "logout": _r(SIGNED_IN),
    # -- team --------------------------------------------------------------------------------
    "team_home": _r(TEAM, why="queried by the caller's own consortium"),
    "team_submission": _r(TEAM, subject="submission"),
    "team_submit_form": _r(TEAM),
    "team_submission_create": _r(TEAM, limit="write", why="for the caller's own consortium"),
    "team_evidence_upload": _r(
        STAFF | {"team"}, subject="submission", limit="write", why="own submission (teams)"
    ),
    "team_appeal_form": _r(TEAM),
    "team_appeal_file": _r(TEAM, limit="write"),
    # -- expert review: assigned submissions only (subject rule + the service's own check) -------
    "expert_home": _r(EXPERT, why="assigned submissions only"),
    "expert_submission": _r(EXPERT, subject="submission", why="evidence packet; blind per rules"),
    "expert_review_save": _r(EXPERT, subject="submission", limit="write"),
    "expert_provenance_request": _r(EXPERT, subject="submission", limit="write"),
    "expert_review_edit": _r(EXPERT, subject="submission", limit="write"),
    # -- arena: the caller's own battles only (404 otherwise); identities only after a vote -----
    "arena_home": _r(PANELIST, why="no model identities before a vote"),
    "arena_battle_start": _r(PANELIST, limit="write", why="own enrolment, open round, daily cap"),
    "arena_battle": _r(PANELIST, why="own battle; identities only after its vote"),
    "arena_battle_panel": _r(PANELIST, why="htmx progress poll of the own battle"),
    "arena_vote": _r(PANELIST, limit="write", why="plus the per-panelist vote bucket"),
    "arena_battle_retry": _r(PANELIST, limit="write", why="failed own battle, same prompt"),
    # -- admin and evaluator ------------------------------------------------------------------
    "admin_home": _r(STAFF),
    "admin_programme": _r(STAFF),
    "admin_programme_create": _r(ADMIN, limit="write"),
    "admin_consortium_add": _r(ADMIN, limit="write"),
    "admin_ruleset_create": _r(ADMIN, limit="write"),
    "admin_ruleset": _r(STAFF),
    "admin_ruleset_publish": _r(ADMIN, limit="write"),
    "admin_ruleset_delete": _r(
        ADMIN, limit="write", why="drafts only (the service refuses others)"
    ),
    "admin_round_create": _r(ADMIN, limit="write"),
    "admin_round": _r(STAFF),
    "admin_round_open": _r(ADMIN, limit="write"),
    "admin_round_close": _r(ADMIN, limit="write"),
    "admin_round_amend": _r(ADMIN, limit="write"),
    "admin_roster_freeze": _r(ADMIN, limit="write", why="arena.freeze_roster; once per round"),
    "admin_panelist_enrol": _r(ADMIN, limit="write"),
    "admin_scorecard_compute": _r(STAFF, limit="write"),
    "admin_result_record": _r(STAFF, subject="submission", limit="write"),
    "admin_provenance_request": _r(STAFF, subject="submission", limit="write"),
    "admin_results_publish": _r(ADMIN, limit="write"),
    "admin_appeal_decide": _r(ADMIN, limit="write"),
    "admin_allocate": _r(ADMIN, limit="write"),
    "admin_wildcard_open": _r(ADMIN, limit="write"),
    "admin_wildcard_decide": _r(ADMIN, limit="write"),
    "admin_users": _r(ADMIN),
    "admin_user_create": _r(ADMIN, limit="write"),
    "admin_token_issue": _r(ADMIN, limit="write"),
    "admin_token_revoke": _r(ADMIN, limit="write"),
    "admin_user_active": _r(ADMIN, limit="write"),
    "admin_user_password": _r(ADMIN, limit="write"),
    # -- JSON API ------------------------------------------------------------------------------
    "api_programmes": _r(EVERYONE),
    "api_leaderboard": _r(EVERYONE, why="latest published scorecard only"),
    "api_round_results": _r(EVERYONE, why="published scorecard only"),
    "api_round_rules": _r(EVERYONE, why="never drafts"),
    "api_ledger_head": _r(EVERYONE),
    "api_me": _r(SIGNED_IN),
    "api_team_submissions": _r(TEAM),
    "api_team_submission_create": _r(TEAM, limit="write"),
    "api_evidence_upload": _r(STAFF | {"team"}, subject="submission", limit="write"),
    "api_submission": _r(
        STAFF | {"team"}, subject="submission", why="experts use the blind review packet"
    ),
    "api_appeal_file": _r(TEAM, limit="write"),
    "api_result_record": _r(STAFF, subject="submission", limit="write"),
    "api_scorecard_draft": _r(STAFF, why="unpublished scorecards"),
    "api_scorecard_compute": _r(STAFF, limit="write"),
    "api_results_publish": _r(ADMIN, limit="write"),
    "api_ruleset_publish": _r(ADMIN, limit="write"),
    "api_round_amend": _r(ADMIN, limit="write"),
    "api_arena_rounds": _r(PANELIST),
    "api_arena_battle_start": _r(PANELIST, limit="write"),
    "api_arena_battle": _r(PANELIST, why="own battle; identities only after its vote"),
    "api_arena_vote": _r(PANELIST, limit="write", why="plus the per-panelist vote bucket"),
    "api_arena_battle_retry": _r(PANELIST, limit="write"),
    "api_review_assignments": _r(EXPERT, why="the caller's assignments only"),
    "api_review_state": _r(EXPERT, subject="submission"),
    "api_review_draft": _r(EXPERT, subject="submission", limit="write"),
    "api_review_submit": _r(EXPERT, subject="submission", limit="write"),
    "api_review_edit": _r(EXPERT, subject="submission", limit="write"),
}


def role_of(user: User | None) -> Role:
    if user is None:
        return "public"
    role = user.role
    return role if role in ROLES and role != "public" else "public"  # type: ignore[return-value]


def allows(rule: Rule, role: Role) -> bool:
    return role in rule.roles


ASSIGNMENT_TABLE = "review_assignments"
"""Contract with the review slice: rows ``(submission_id, expert)`` grant an expert access."""


def expert_can_see(s: Session, user: User, submission_id: int) -> bool:
    """An expert sees a submission only if an assignment row names them for it.

    Until the review slice creates ``review_assignments`` there is no assignment, so the
    answer is always no (fail closed).
    """
    if user.role != "expert" or not user.expert_name:
        return False
    if not inspect(s.get_bind()).has_table(ASSIGNMENT_TABLE):
        return False
    row = s.execute(
        text(
            f"SELECT 1 FROM {ASSIGNMENT_TABLE} "
            "WHERE submission_id = :sid AND expert = :expert LIMIT 1"
        ),
        {"sid": submission_id, "expert": user.expert_name},
    ).first()
    return row is not None


def can_see_submission(s: Session, user: User | None, submission_id: int) -> bool:
    """The ``submission`` subject check of the table above."""
    role = role_of(user)
    if user is None or role in ("public", "panelist"):
        return False
    if role in STAFF:
        return True
    if role == "team":
        sub = s.get(m.Submission, submission_id)
        return sub is not None and sub.consortium_id == user.consortium_id
    if role == "expert":
        return expert_can_see(s, user, submission_id)
    return False


def panelist_can_see_identities(user: User | None, *, has_voted: bool) -> bool:
    """A panelist learns which models fought a battle only after casting the vote on it."""
    return role_of(user) == "panelist" and has_voted


PUBLIC_RULE_STATUSES = ("published", "frozen", "superseded")


def public_rule_status(status: str) -> bool:
    """Rule versions the public may read: everything except drafts."""
    return status in PUBLIC_RULE_STATUSES


ACCOUNT_EVENT_PREFIXES = ("user.", "token.")
"""Ledger kinds about accounts (sign-ins, users, tokens). They stay in the chain (every hash
covers them) and in the organisers' view, but public pages list competition events only."""


def public_event_kind(kind: str) -> bool:
    return not kind.startswith(ACCOUNT_EVENT_PREFIXES)


def owns_consortium(user: User | None, consortium_id: int) -> bool:
    return user is not None and user.role == "team" and user.consortium_id == consortium_id

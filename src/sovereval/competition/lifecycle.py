"""Every lifecycle of the competition as one table of states and allowed transitions.

Round, submission, appeal, wild-card call and consortium status each have one
:class:`Lifecycle`. A service function asks :func:`Lifecycle.move` for the next state before it
changes a row; a transition the table does not allow is refused with one error that names the
current state and what is allowed from it. Guards that need dates or other rows (a round's
window, one active submission per team) live in the service next to the move, and
``design/lifecycles.md`` draws the same tables with their guards and ledger events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sovereval.errors import RuleViolation


@dataclass(frozen=True)
class Lifecycle:
    name: str
    """What the record is called in messages: ``round``, ``submission``, ..."""
    states: tuple[str, ...]
    transitions: Mapping[str, Mapping[str, str]]
    """``{state: {action: next_state}}``; an action missing here is refused in that state."""

    def allowed(self, state: str) -> tuple[str, ...]:
        return tuple(self.transitions.get(state, {}))

    def move(self, label: str, state: str, action: str) -> str:
        """The state after ``action``, or a :class:`RuleViolation` naming what is allowed."""
        nxt = self.transitions.get(state, {}).get(action)
        if nxt is None:
            allowed = self.allowed(state)
            can = ", ".join(allowed) if allowed else "nothing (final state)"
            raise RuleViolation(f"{label} is {state}; cannot {action} (allowed: {can})")
        return nxt


ROUND = Lifecycle(
    "round",
    ("planned", "open", "closed", "published"),
    {
        "planned": {"open": "open", "revise rules": "planned"},
        "open": {"close": "closed", "amend rules": "open", "submit": "open", "withdraw": "open"},
        "closed": {
            "compute": "closed",
            "publish": "published",
            "reopen": "open",
            "amend rules": "closed",
        },
        "published": {"compute": "published", "republish": "published", "appeal": "published"},
    },
)

SUBMISSION = Lifecycle(
    "submission",
    ("registered", "withdrawn", "advance", "eliminate", "disqualify"),
    {
        "registered": {
            "withdraw": "withdrawn",
            "advance": "advance",
            "eliminate": "eliminate",
            "disqualify": "disqualify",
        },
        # A republished scorecard may change a decision; each change is its own event.
        "advance": {"advance": "advance", "eliminate": "eliminate", "disqualify": "disqualify"},
        "eliminate": {"advance": "advance", "eliminate": "eliminate", "disqualify": "disqualify"},
        "disqualify": {"advance": "advance", "eliminate": "eliminate", "disqualify": "disqualify"},
        "withdrawn": {},
    },
)

APPEAL = Lifecycle(
    "appeal",
    ("pending", "upheld", "dismissed", "rejected_late"),
    {"pending": {"uphold": "upheld", "dismiss": "dismissed"}},
)

WILDCARD_CALL = Lifecycle(
    "wild-card call",
    ("open", "decided"),
    {"open": {"apply": "open", "vote": "open", "decide": "decided"}},
)

CONSORTIUM = Lifecycle(
    "consortium",
    ("applicant", "selected", "wildcard", "eliminated", "disqualified", "withdrawn"),
    {
        "applicant": {"admit": "wildcard", "apply": "applicant"},
        "selected": {
            "advance": "selected",
            "eliminate": "eliminated",
            "disqualify": "disqualified",
        },
        "wildcard": {
            "advance": "selected",
            "eliminate": "eliminated",
            "disqualify": "disqualified",
        },
        # A republished round (an upheld appeal) may turn an elimination into advancement.
        "eliminated": {
            "apply": "eliminated",
            "admit": "wildcard",
            "advance": "selected",
            "eliminate": "eliminated",
            "disqualify": "disqualified",
        },
        "disqualified": {"disqualify": "disqualified"},
        "withdrawn": {},
    },
)
"""Consortium status is derived (``results_service.derive_status``) from the recorded
decisions; this table says which decisions may follow which. Only selected and wild-card teams
may submit; an applicant enters through a wild-card admission."""

ACTIVE_STATUSES = ("selected", "wildcard")

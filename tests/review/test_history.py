"""Drafts, submission, score-edit history, and the deadline lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sovereval.errors import DeadlinePassedError, InputError, RuleViolation
from sovereval.review.history import (
    ReviewForm,
    check_deadline,
    edit_score,
    history_of,
    open_form,
    save_draft,
    submit,
)
from sovereval.review.rubric import CriterionScore, default_rubric

RUBRIC = default_rubric()
DEADLINE = datetime(2025, 12, 20, 18, 0, tzinfo=UTC)
T0 = datetime(2025, 12, 18, 9, 0, tzinfo=UTC)
TEXT = "Loss curves in the logs are smooth and the report documents the data mix."
EVID = {"prov-7"}


def full(score: float = 6.0) -> list[CriterionScore]:
    return [
        CriterionScore(c.key, score, TEXT, ("prov-7",) if c.requires_evidence else ())
        for c in RUBRIC.criteria
    ]


def test_deadline_instant_is_open_one_microsecond_later_is_locked() -> None:
    check_deadline(DEADLINE, DEADLINE)
    with pytest.raises(DeadlinePassedError, match="locked"):
        check_deadline(DEADLINE, DEADLINE + timedelta(microseconds=1))
    # 2025-12-21 02:59 in Seoul (UTC+9) is 2025-12-20 17:59 UTC: still open
    kst = timezone(timedelta(hours=9))
    check_deadline(DEADLINE, datetime(2025, 12, 21, 2, 59, tzinfo=kst))
    with pytest.raises(InputError, match="timezone"):
        check_deadline(DEADLINE, datetime(2025, 12, 18))


def test_drafts_are_partial_and_every_change_is_recorded() -> None:
    form = open_form("e1", "s1")
    form = save_draft(form, full()[:2], RUBRIC, editor="e1", now=T0, deadline=DEADLINE)
    assert form.status == "draft" and len(form.scores) == 2 and len(form.history) == 2
    assert form.history[0].before is None and form.history[0].stage == "draft"
    # saving the same scores again changes nothing and records nothing
    same = save_draft(form, full()[:2], RUBRIC, editor="e1", now=T0, deadline=DEADLINE)
    assert same == form
    t1 = T0 + timedelta(hours=1)
    changed = CriterionScore("development_strategy", 8, TEXT)
    form = save_draft(form, [changed], RUBRIC, editor="e1", now=t1, deadline=DEADLINE)
    h = history_of(form, "development_strategy")
    assert [(e.before.score if e.before else None, e.after.score) for e in h] == [
        (None, 6.0),
        (6.0, 8.0),
    ]
    assert h[-1].at == t1
    with pytest.raises(InputError, match="outside the scale"):
        save_draft(
            form,
            [CriterionScore("originality", 0, "")],
            RUBRIC,
            editor="e1",
            now=t1,
            deadline=DEADLINE,
        )


def test_submit_requires_a_complete_valid_review_by_the_expert() -> None:
    form = save_draft(
        open_form("e1", "s1"), full()[:3], RUBRIC, editor="e1", now=T0, deadline=DEADLINE
    )
    with pytest.raises(RuleViolation, match="ripple_effects"):
        submit(form, RUBRIC, editor="e1", now=T0, deadline=DEADLINE, evidence_keys=EVID)
    form = save_draft(form, full(), RUBRIC, editor="e1", now=T0, deadline=DEADLINE)
    with pytest.raises(RuleViolation, match="only e1"):
        submit(form, RUBRIC, editor="e2", now=T0, deadline=DEADLINE, evidence_keys=EVID)
    done = submit(form, RUBRIC, editor="e1", now=T0, deadline=DEADLINE, evidence_keys=EVID)
    assert done.status == "submitted" and done.submitted_at == T0
    assert done.as_submitted().score_map()["originality"] == 6.0
    with pytest.raises(RuleViolation, match="already submitted"):
        save_draft(done, full(), RUBRIC, editor="e1", now=T0, deadline=DEADLINE)
    with pytest.raises(RuleViolation, match="draft"):
        form.as_submitted()


def test_edit_after_submission_keeps_who_when_why_before_after() -> None:
    form = save_draft(open_form("e1", "s1"), full(), RUBRIC, editor="e1", now=T0, deadline=DEADLINE)
    form = submit(form, RUBRIC, editor="e1", now=T0, deadline=DEADLINE, evidence_keys=EVID)
    t2 = T0 + timedelta(days=1)
    new = CriterionScore(
        "originality", 3, TEXT + " The vision tower matches a public ViT.", ("prov-7",)
    )
    with pytest.raises(InputError, match="reason"):
        edit_score(
            form,
            new,
            RUBRIC,
            editor="e1",
            now=t2,
            deadline=DEADLINE,
            reason=" ",
            evidence_keys=EVID,
        )
    edited = edit_score(
        form, new, RUBRIC, editor="admin", now=t2, deadline=DEADLINE,
        reason="provenance report updated", evidence_keys=EVID,
    )  # fmt: skip
    last = edited.history[-1]
    assert (last.editor, last.at, last.reason, last.stage) == (
        "admin",
        t2,
        "provenance report updated",
        "submitted",
    )
    assert last.before is not None and last.before.score == 6.0 and last.after.score == 3.0
    assert edited.score_map()["originality"].score == 3.0
    assert [s.criterion for s in edited.scores] == list(RUBRIC.keys)  # order kept
    assert last.to_dict()["before"]["score"] == 6.0
    assert ReviewForm.from_dict(edited.to_dict()) == edited  # storage round trip
    # an edit that drops the provenance citation is refused
    bad = CriterionScore("originality", 4, TEXT)
    with pytest.raises(RuleViolation, match="cite"):
        edit_score(
            edited,
            bad,
            RUBRIC,
            editor="e1",
            now=t2,
            deadline=DEADLINE,
            reason="x",
            evidence_keys=EVID,
        )


def test_everything_is_locked_after_the_deadline() -> None:
    late = DEADLINE + timedelta(minutes=1)
    form = save_draft(open_form("e1", "s1"), full(), RUBRIC, editor="e1", now=T0, deadline=DEADLINE)
    with pytest.raises(DeadlinePassedError):
        save_draft(form, full(7), RUBRIC, editor="e1", now=late, deadline=DEADLINE)
    with pytest.raises(DeadlinePassedError):
        submit(form, RUBRIC, editor="e1", now=late, deadline=DEADLINE, evidence_keys=EVID)
    done = submit(form, RUBRIC, editor="e1", now=T0, deadline=DEADLINE, evidence_keys=EVID)
    with pytest.raises(DeadlinePassedError):
        edit_score(
            done,
            full(2)[0],
            RUBRIC,
            editor="e1",
            now=late,
            deadline=DEADLINE,
            reason="r",
            evidence_keys=EVID,
        )

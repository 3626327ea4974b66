"""Appeal windows: counted from publication of the round's results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sovereval.errors import InputError


@dataclass(frozen=True)
class AppealCheck:
    accepted: bool
    deadline: datetime
    reason: str


def appeal_deadline(published_at: datetime, window_days: int) -> datetime:
    """End of the appeal window: ``window_days`` full days after publication (exclusive)."""
    if published_at.tzinfo is None:
        raise InputError("publication time must carry a timezone")
    return published_at + timedelta(days=window_days)


def check_appeal_time(
    published_at: datetime | None, window_days: int, filed_at: datetime
) -> AppealCheck:
    """Accept an appeal filed before the deadline; otherwise say exactly why not."""
    if filed_at.tzinfo is None:
        raise InputError("filing time must carry a timezone")
    if published_at is None:
        return AppealCheck(
            False, filed_at, "results of this round are not published yet; nothing to appeal"
        )
    deadline = appeal_deadline(published_at, window_days)
    if filed_at < published_at:
        return AppealCheck(False, deadline, "filed before the results were published")
    if filed_at >= deadline:
        late = filed_at - deadline
        return AppealCheck(
            False,
            deadline,
            f"late: the {window_days}-day appeal window closed at {deadline.isoformat()} "
            f"({_human(late)} before this filing at {filed_at.isoformat()})",
        )
    return AppealCheck(True, deadline, f"within the window (closes {deadline.isoformat()})")


def _human(d: timedelta) -> str:
    hours = int(d.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hours"
    return f"{int(d.total_seconds() // 60)} minutes"

"""Daily activity entries (laporan kegiatan harian) and the supervisor's review as a pure state machine.

An entry's value is ``norm_minutes x volume``: the time norm of one unit of output (from the job analysis,
Anjab/ABK) times how many units were done. ``start``/``end`` are when it happened, used to reconcile it with
the presence window; ``end <= start`` means it ran past midnight."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from hub.attendance.importing import FieldError, Parsed, RowError, csv_rows, parse_date, parse_int, parse_time


class ActivityStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVISION_REQUESTED = "revision_requested"


class ReviewAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_REVISION = "request_revision"
    RESUBMIT = "resubmit"  # the employee's answer to a revision request


# Approved and rejected are final: a supervisor who changes their mind asks for a new entry, so the
# figures already fed to e-Kinerja never change under a recap without a new record version.
TRANSITIONS: Mapping[tuple[ActivityStatus, ReviewAction], ActivityStatus] = {
    (ActivityStatus.SUBMITTED, ReviewAction.APPROVE): ActivityStatus.APPROVED,
    (ActivityStatus.SUBMITTED, ReviewAction.REJECT): ActivityStatus.REJECTED,
    (ActivityStatus.SUBMITTED, ReviewAction.REQUEST_REVISION): ActivityStatus.REVISION_REQUESTED,
    (ActivityStatus.REVISION_REQUESTED, ReviewAction.RESUBMIT): ActivityStatus.SUBMITTED,
}
COMMENT_REQUIRED = frozenset({ReviewAction.REJECT, ReviewAction.REQUEST_REVISION})


class ReviewError(ValueError):
    pass


@dataclass(frozen=True)
class Activity:
    id: str
    nip: str
    day: date
    start: time
    end: time
    description: str
    rhk_ref: str
    norm_minutes: int
    volume: int
    status: ActivityStatus = ActivityStatus.SUBMITTED
    reviewer_comment: str = ""

    def __post_init__(self) -> None:
        if self.norm_minutes < 0 or self.volume < 0:
            raise ValueError("norm_minutes and volume must be >= 0")

    @property
    def value_minutes(self) -> int:
        return self.norm_minutes * self.volume

    def interval(self, shift_to_next_day_before: time | None = None) -> tuple[datetime, datetime]:
        """When it happened as local datetimes. On an overnight shift, times before the shift's start belong
        to the next calendar day (``shift_to_next_day_before`` is that start)."""
        start_day = self.day
        if shift_to_next_day_before is not None and self.start < shift_to_next_day_before:
            start_day += timedelta(days=1)
        starts = datetime.combine(start_day, self.start)
        ends = datetime.combine(start_day, self.end)
        return starts, ends + timedelta(days=1) if ends <= starts else ends


def allowed_actions(status: ActivityStatus) -> frozenset[ReviewAction]:
    return frozenset(action for (source, action) in TRANSITIONS if source == status)


def review(activity: Activity, action: ReviewAction, comment: str = "") -> Activity:
    """The entry after ``action``; raises ``ReviewError`` for a transition the state machine forbids or a
    reject / revision request without a comment (the employee must be told why)."""
    target = TRANSITIONS.get((activity.status, action))
    if target is None:
        raise ReviewError(f"cannot {action.value} an entry that is {activity.status.value}")
    if action in COMMENT_REQUIRED and not comment.strip():
        raise ReviewError(f"{action.value} needs a comment for the employee")
    kept = activity.reviewer_comment if action is ReviewAction.RESUBMIT else comment.strip()
    return replace(activity, status=target, reviewer_comment=kept)


CSV_COLUMNS = ("id", "nip", "date", "start", "end", "description", "rhk_ref", "norm_minutes", "volume")


def _activity(row: Mapping[str, str]) -> Activity:
    for required in ("id", "nip", "description"):
        if not row.get(required):
            raise FieldError(required, "required")
    status_text = row.get("status") or ActivityStatus.SUBMITTED.value
    if status_text not in {s.value for s in ActivityStatus}:
        raise FieldError("status", f"{status_text!r} is not one of {', '.join(s.value for s in ActivityStatus)}")
    return Activity(
        id=row["id"],
        nip=row["nip"],
        day=parse_date("date", row["date"]),
        start=parse_time("start", row["start"]),
        end=parse_time("end", row["end"]),
        description=row["description"],
        rhk_ref=row["rhk_ref"],
        norm_minutes=parse_int("norm_minutes", row["norm_minutes"]),
        volume=parse_int("volume", row["volume"]),
        status=ActivityStatus(status_text),
        reviewer_comment=row.get("reviewer_comment", ""),
    )


def parse_activities_csv(text: str) -> Parsed[Activity]:
    """CSV with columns ``id,nip,date,start,end,description,rhk_ref,norm_minutes,volume`` and optional
    ``status,reviewer_comment`` (as exported from e-Kinerja or entered in a spreadsheet)."""
    rows = csv_rows(text, CSV_COLUMNS)
    if isinstance(rows, RowError):
        return Parsed((), (rows,))
    items: list[Activity] = []
    errors: list[RowError] = []
    for line, row in rows:
        try:
            items.append(_activity(row))
        except FieldError as exc:
            errors.append(RowError(line, exc.field, exc.message))
    return Parsed(tuple(items), tuple(errors))

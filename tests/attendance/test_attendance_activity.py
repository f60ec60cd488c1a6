"""Absences and activity entries: approval, the review state machine, CSV import with row errors."""

from dataclasses import replace
from datetime import date, time

import pytest

from hub.attendance.absence import Absence, AbsenceKind, ApprovalStatus, approved_absence_on
from hub.attendance.activity import (
    ActivityStatus,
    ReviewAction,
    ReviewError,
    allowed_actions,
    parse_activities_csv,
    review,
)
from tests.attendance.attendance_builders import MONDAY, NIP, activity


def test_only_approved_absences_are_returned_and_overlaps_resolve_the_same_way_in_any_order() -> None:
    pending = Absence(NIP, AbsenceKind.SAKIT, MONDAY, MONDAY, ApprovalStatus.PENDING)
    leave = Absence(NIP, AbsenceKind.CUTI_TAHUNAN, date(2026, 10, 26), MONDAY, ApprovalStatus.APPROVED)
    duty = Absence(NIP, AbsenceKind.DINAS_LUAR, MONDAY, MONDAY, ApprovalStatus.APPROVED)
    assert approved_absence_on([pending], MONDAY) is None
    assert approved_absence_on([leave, duty, pending], MONDAY) == duty  # started last
    assert approved_absence_on([duty, leave], MONDAY) == duty
    assert duty.is_official_duty
    assert not leave.is_official_duty


def test_an_absence_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Absence(NIP, AbsenceKind.IZIN, MONDAY, date(2026, 11, 1), ApprovalStatus.PENDING)


def test_every_absence_kind_has_a_distinct_code() -> None:
    assert len({k.value for k in AbsenceKind}) == len(AbsenceKind) == 11


REVIEWS = [
    (ActivityStatus.SUBMITTED, ReviewAction.APPROVE, ActivityStatus.APPROVED),
    (ActivityStatus.SUBMITTED, ReviewAction.REJECT, ActivityStatus.REJECTED),
    (ActivityStatus.SUBMITTED, ReviewAction.REQUEST_REVISION, ActivityStatus.REVISION_REQUESTED),
    (ActivityStatus.REVISION_REQUESTED, ReviewAction.RESUBMIT, ActivityStatus.SUBMITTED),
]


@pytest.mark.parametrize(("source", "action", "target"), REVIEWS)
def test_allowed_review_transitions(source: ActivityStatus, action: ReviewAction, target: ActivityStatus) -> None:
    entry = replace(activity(MONDAY, "08:00", "09:00", 60, 1), status=source)
    assert review(entry, action, "Lampirkan bukti").status is target


@pytest.mark.parametrize("source", list(ActivityStatus))
def test_every_other_transition_is_refused(source: ActivityStatus) -> None:
    entry = replace(activity(MONDAY, "08:00", "09:00", 60, 1), status=source)
    for action in set(ReviewAction) - allowed_actions(source):
        with pytest.raises(ReviewError, match="cannot"):
            review(entry, action, "komentar")


def test_approved_and_rejected_are_final() -> None:
    assert allowed_actions(ActivityStatus.APPROVED) == allowed_actions(ActivityStatus.REJECTED) == frozenset()


@pytest.mark.parametrize("action", [ReviewAction.REJECT, ReviewAction.REQUEST_REVISION])
def test_reject_and_revision_need_a_comment(action: ReviewAction) -> None:
    entry = replace(activity(MONDAY, "08:00", "09:00", 60, 1), status=ActivityStatus.SUBMITTED)
    with pytest.raises(ReviewError, match="needs a comment"):
        review(entry, action, "  ")
    assert review(entry, action, "Volume tidak sesuai").reviewer_comment == "Volume tidak sesuai"


def test_activity_value_is_norm_times_volume() -> None:
    assert activity(MONDAY, "08:00", "10:00", 30, 4).value_minutes == 120


def test_csv_import_keeps_good_rows_and_reports_bad_ones() -> None:
    text = (
        "id,nip,date,start,end,description,rhk_ref,norm_minutes,volume,status\n"
        f"a1,{NIP},2026-11-02,08:00,10:00,Menyusun laporan,RHK-1,30,4,approved\n"
        f"a2,{NIP},2026-11-02,8 pagi,10:00,Rapat,RHK-2,60,1,\n"
        f"a3,{NIP},2026-11-02,10:00,11:00,Rapat,RHK-2,-5,1,\n"
        f"a4,{NIP},2026-11-02,10:00,11:00,Rapat,RHK-2,60,1,done\n"
        f"a5,{NIP},2026-11-02,10:00,11:00,,RHK-2,60,1,\n"
    )
    parsed = parse_activities_csv(text)
    assert [(a.id, a.start, a.status, a.value_minutes) for a in parsed.items] == [
        ("a1", time(8, 0), ActivityStatus.APPROVED, 120)
    ]
    assert [(e.line, e.field) for e in parsed.errors] == [
        (3, "start"),
        (4, "norm_minutes"),
        (5, "status"),
        (6, "description"),
    ]

"""The recompute's fast forms equal the generic ones: a day built field by field into its ``__dict__`` equals one
built by the dataclass ``__init__``; ``day_result`` written out field by field equals the dataclass walk
(``jsonable``); and ``day_digest``, the inputs hash that lets a recompute skip a day, changes
with every input the engine reads and with nothing else."""

import dataclasses
from datetime import date, datetime
from typing import Any

import orjson
import pytest

from hub.attendance.absence import Absence, AbsenceKind, ApprovalStatus
from hub.attendance.calendar import Holiday, HolidayKind
from hub.attendance.day import AttendanceDay, Punch, attribute_punches, evaluate_day, stored_punch
from hub.attendance.policy import Policy, parse_policy
from hub.reconcile.documents import day_digest, day_result, digest, jsonable
from hub.reconcile.service import stored_time
from tests.attendance.attendance_builders import (
    MONDAY,
    NIP,
    activity,
    office_day,
    preset_document,
    punch,
)

TUESDAY, WEDNESDAY, SATURDAY = date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 7)
CUTI = Absence(NIP, AbsenceKind.CUTI_TAHUNAN, WEDNESDAY, WEDNESDAY, ApprovalStatus.APPROVED, "SK 1")
HOLIDAY = Holiday(TUESDAY, "Hari raya", HolidayKind.NATIONAL)


def _generic(day: AttendanceDay) -> dict[str, Any]:
    """What ``day_result`` returned before it was written out: the dataclass walk plus code and percent."""
    result: dict[str, Any] = jsonable(day)
    result["code"] = day.code
    result["percent"] = str(day.percent)
    return result


def _policy() -> Policy:
    return parse_policy(preset_document("tlpsw-standard"))


CASES: list[tuple[date, list[Punch], Holiday | None, list[Absence], list[Any]]] = [
    (MONDAY, [punch(MONDAY, "07:25"), punch(MONDAY, "07:28"), punch(MONDAY, "16:05")], None, [], []),
    (
        MONDAY,
        [punch(MONDAY, "08:40:30"), punch(MONDAY, "15:20")],
        None,
        [],
        [activity(MONDAY, "08:00", "12:00", 30, 2)],
    ),
    (MONDAY, [punch(MONDAY, "07:20", flags=("clock_reset",)), punch(MONDAY, "16:02")], None, [], []),
    (MONDAY, [punch(MONDAY, "03:00"), punch(MONDAY, "09:00", matched=False)], None, [], []),
    (MONDAY, [], None, [], []),
    (MONDAY, [punch(MONDAY, "07:31")], None, [], []),
    (TUESDAY, [punch(TUESDAY, "07:30")], HOLIDAY, [], []),
    (WEDNESDAY, [punch(WEDNESDAY, "07:30"), punch(WEDNESDAY, "16:00")], None, [CUTI], []),
    (SATURDAY, [punch(SATURDAY, "10:00")], None, [], []),
]


@pytest.mark.parametrize(("day", "punches", "holiday", "absences", "activities"), CASES)
def test_fast_stored_forms_equal_the_generic_ones(
    day: date, punches: list[Punch], holiday: Holiday | None, absences: list[Absence], activities: list[Any]
) -> None:
    policy = _policy()
    schedule = office_day(day)
    attributed = attribute_punches(punches, [schedule]).get(day, ())
    evaluated = evaluate_day(
        NIP, schedule, policy, attributed, holiday=holiday, absences=absences, activities=activities
    )
    # Built without __init__: the same fields, nothing more, equal (and hashing equal) to the __init__-built day.
    names = [f.name for f in dataclasses.fields(AttendanceDay)]
    assert list(vars(evaluated)) == names
    rebuilt = AttendanceDay(**{name: getattr(evaluated, name) for name in names})
    assert rebuilt == evaluated
    assert hash(rebuilt) == hash(evaluated)
    assert day_result(evaluated) == _generic(evaluated)
    assert day_result(evaluated, jsonable(schedule)) == _generic(evaluated)
    # Stored as orjson text, read back as the same JSON value.
    assert orjson.loads(orjson.dumps(day_result(evaluated))) == _generic(evaluated)


def _hash(punches: tuple[Punch, ...], schedule_digest: str = "s", **changed: Any) -> str:
    inputs: dict[str, Any] = {"holiday": None, "absences": [], "activities": [], "policy_id": "p", "policy_version": 1}
    inputs |= changed
    return day_digest(punches, schedule_digest, **inputs)


def test_the_inputs_hash_changes_with_every_input_the_engine_reads() -> None:
    base = (punch(MONDAY, "07:25"), punch(MONDAY, "16:05"))
    same = (punch(MONDAY, "07:25"), punch(MONDAY, "16:05"))
    assert _hash(base) == _hash(same)  # equal inputs, equal hash (a re-run skips the day)
    first, last = base
    variants = {
        "no punch": _hash(()),
        "one punch fewer": _hash((first,)),
        "a second later": _hash((punch(MONDAY, "07:25:01"), last)),
        "another key": _hash((Punch("other", first.local_time), last)),
        "another status key": _hash((Punch(first.key, first.local_time, status=1), last)),
        "flagged": _hash((Punch(first.key, first.local_time, flags=("clock_drift",)), last)),
        "unmatched": _hash((Punch(first.key, first.local_time, matched=False), last)),
        "another schedule": _hash(base, "t"),
        "a holiday": _hash(base, holiday=HOLIDAY),
        "an absence": _hash(base, absences=[CUTI]),
        "an activity": _hash(base, activities=[activity(MONDAY, "08:00", "12:00", 30, 2)]),
        "another policy": _hash(base, policy_id="q"),
        "a new policy version": _hash(base, policy_version=2),
    }
    assert _hash(base) not in variants.values()
    assert len(set(variants.values())) == len(variants), "two different inputs share a hash"


def test_a_schedule_digest_is_the_digest_of_its_value() -> None:
    assert digest(office_day(MONDAY)) == digest(office_day(MONDAY)) != digest(office_day(TUESDAY))


def test_a_stored_punch_equals_one_built_by_init() -> None:
    moment = datetime(2026, 11, 2, 7, 25, 3)
    for flags in ((), ("clock_reset", "future")):
        built = stored_punch("T1:7:1", moment, 1, flags)
        assert built == Punch("T1:7:1", moment, 1, flags)
        assert hash(built) == hash(Punch("T1:7:1", moment, 1, flags, matched=True))
        assert list(vars(built)) == [f.name for f in dataclasses.fields(Punch)]


@pytest.mark.parametrize(
    "moment", [datetime(2026, 11, 2, 7, 25, 3), datetime(2026, 11, 2, 7, 25, 3, 120), datetime(2026, 11, 2)]
)
def test_the_stored_time_text_is_the_one_the_store_writes(moment: datetime) -> None:
    # The recompute derives it from the result's ISO form, which leaves out zero microseconds.
    assert stored_time(moment.isoformat()) == moment.isoformat(" ", "microseconds")
    assert stored_time(None) is None

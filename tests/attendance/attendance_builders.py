"""Small builders for the attendance tests: an office unit on the national week, punches from "HH:MM[:SS]"."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from importlib import resources
from typing import Any

import yaml

from hub.attendance.absence import Absence
from hub.attendance.activity import Activity, ActivityStatus
from hub.attendance.day import AttendanceDay, Punch, attribute_punches, evaluate_day
from hub.attendance.policy import Policy, parse_policy
from hub.attendance.schedule import (
    NATIONAL_FIVE_DAY,
    DaySchedule,
    GroupAssignment,
    ScheduleGroup,
    UnitAssignment,
    schedule_for,
)

NIP = "198705122015031002"
OFFICE = ScheduleGroup("NASIONAL-5", NATIONAL_FIVE_DAY)
OFFICE_UNIT = UnitAssignment("DISDIK", "Asia/Jakarta", (GroupAssignment(OFFICE),))
MONDAY = date(2026, 11, 2)  # 2 November 2026 is a Monday
FRIDAY = date(2026, 11, 6)


def at(day: date, clock: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock))


def punch(day: date, clock: str, status: int = 0, *, flags: tuple[str, ...] = (), matched: bool = True) -> Punch:
    moment = at(day, clock)
    return Punch(f"{moment:%Y%m%dT%H%M%S}|{status}", moment, status, flags, matched)


def office_day(day: date) -> DaySchedule:
    return schedule_for(None, OFFICE_UNIT, day)


def office(day: date, policy: Policy, *clocks: str) -> AttendanceDay:
    """An office day with one punch per clock string (status keys alternate 0/1 as if pressed correctly)."""
    punches = [punch(day, clock, n % 2) for n, clock in enumerate(clocks)]
    return evaluate_day(NIP, office_day(day), policy, punches)


def dates(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def evaluate_range(
    first: date,
    last: date,
    policy: Policy,
    clocks: dict[date, tuple[str, ...]],
    *,
    group: ScheduleGroup = OFFICE,
    absences: tuple[Absence, ...] = (),
    activities: tuple[Activity, ...] = (),
) -> list[AttendanceDay]:
    """Every calendar date first..last, punches attributed to attendance days as the store layer would."""
    unit = UnitAssignment("U", "Asia/Jakarta", (GroupAssignment(group),))
    schedules = [schedule_for(None, unit, day) for day in dates(first, last)]
    punches = [punch(day, clock) for day, day_clocks in clocks.items() for clock in day_clocks]
    by_day = attribute_punches(punches, schedules)
    return [
        evaluate_day(NIP, s, policy, by_day.get(s.day, ()), absences=absences, activities=activities) for s in schedules
    ]


def preset_document(name: str) -> dict[str, Any]:
    """A preset as a plain dict, for tests that change one field and check what happens."""
    text = resources.files("hub.attendance").joinpath(f"presets/{name}.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def variant(name: str, **discipline: Any) -> Policy:
    """A preset with some discipline fields replaced (``None`` removes the field)."""
    document = copy.deepcopy(preset_document(name))
    for key, value in discipline.items():
        if value is None:
            document["discipline"].pop(key, None)
        else:
            document["discipline"][key] = value
    return parse_policy(document)


def activity(day: date, start: str, end: str, norm: int, volume: int, status: str = "approved") -> Activity:
    return Activity(
        id=f"{day}-{start}",
        nip=NIP,
        day=day,
        start=time.fromisoformat(start),
        end=time.fromisoformat(end),
        description="Menyusun laporan",
        rhk_ref="RHK-1",
        norm_minutes=norm,
        volume=volume,
        status=ActivityStatus(status),
    )

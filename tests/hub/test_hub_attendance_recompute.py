"""Recompute from the store: TL/PSW codes for a hand-worked week, late punches marking days dirty, versions."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.reconcile import records
from hub.reconcile.corrections import WrongPinMapping, create_correction
from hub.reconcile.queue import pending_count, process_pending
from hub.reconcile.service import NoPolicy, recap_for, recompute_range
from hub.store.db import session_factory
from hub.store.models import AttendanceDayRow, RecomputeQueue, RecomputeTerminalDay
from presensi.contract import PunchFlag
from tests.hub.attendance_kit import BUDI, PINS, SITI, deliver, deliver_records, preset_text, seeded
from tests.hub.hub_testkit import punch

MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 11, d) for d in range(2, 9))

# Budi's week of 2-8 November 2026 on the national five-day week (Mon-Thu 07:30-16:00, Fri 07:30-16:30) under
# the tlpsw-standard preset (TL/PSW 0.5 / 1 / 1.25 / 1.5 %, TK 5 %, daily cap 5 %):
#   Mon 07:25 - 16:05  on time both ways                              -> present, no code, 0 %
#   Tue 07:45:30 - 16:00  07:45:30 - 07:30 = 15 whole minutes late    -> TL1 (1-30), 0.5 %
#   Wed 08:40 - 15:20  70 min late (TL3, 61-90: 1.25 %); 40 min early (PSW2, 31-60: 1 %) -> TL3+PSW2, 2.25 %
#   Thu no punch on a working day                                     -> TK, 5 %
#   Fri 07:30 - 16:00  Friday ends 16:30: 30 min early                -> PSW1 (1-30), 0.5 %
#   Sat, Sun                                                          -> off
# A 07:28 double press on Monday (2 minutes after 07:25... kept within 5 minutes) is one press repeated.
WEEK = [
    (BUDI, datetime(2026, 11, 2, 7, 25)),
    (BUDI, datetime(2026, 11, 2, 7, 28)),
    (BUDI, datetime(2026, 11, 2, 16, 5)),
    (BUDI, datetime(2026, 11, 3, 7, 45, 30)),
    (BUDI, datetime(2026, 11, 3, 16, 0)),
    (BUDI, datetime(2026, 11, 4, 8, 40)),
    (BUDI, datetime(2026, 11, 4, 15, 20)),
    (BUDI, datetime(2026, 11, 6, 7, 30)),
    (BUDI, datetime(2026, 11, 6, 16, 0)),
]
EXPECTED = {
    MON: ("present", None, Decimal("0")),
    TUE: ("present", "TL1", Decimal("0.5")),
    WED: ("present", "TL3+PSW2", Decimal("2.25")),
    THU: ("tk", "TK", Decimal("5")),
    FRI: ("present", "PSW1", Decimal("0.5")),
    SAT: ("off", None, Decimal("0")),
    SUN: ("off", None, Decimal("0")),
}


async def _days(engine: AsyncEngine, nip: str) -> dict[date, AttendanceDayRow]:
    async with session_factory(engine)() as db:
        rows = (await db.execute(select(AttendanceDayRow).where(AttendanceDayRow.nip == nip))).scalars().all()
    return {r.day: r for r in rows}


async def test_recompute_gives_the_hand_worked_codes(engine: AsyncEngine) -> None:
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        stats = await recompute_range(db, MON, SUN)
    assert stats.employees == 2
    assert stats.days == 14
    assert stats.inserted == 14
    days = await _days(engine, BUDI)
    assert {d: (r.status, r.codes, r.deduction_percent) for d, r in days.items()} == EXPECTED
    assert days[TUE].minutes_late == 15
    assert days[WED].minutes_late == 70
    assert days[WED].minutes_early == 40
    assert days[MON].check_in == datetime(2026, 11, 2, 7, 25)
    assert days[MON].check_out == datetime(2026, 11, 2, 16, 5)
    assert all(r.version == 1 for r in days.values())
    # Siti's unit has no assignment of its own: it inherits BKPSDM's group; no punch all week -> 5 TK days.
    siti = await _days(engine, SITI)
    assert [siti[d].codes for d in (MON, TUE, WED, THU, FRI)] == ["TK"] * 5

    async with session_factory(engine)() as db:
        again = await recompute_range(db, MON, SUN, unit_code="BKPSDM.UMUM")
    assert (again.employees, again.unchanged, again.changed) == (1, 7, 0)
    assert all(r.version == 1 for r in (await _days(engine, SITI)).values())


async def test_a_late_punch_marks_the_day_and_pending_recompute_bumps_the_version(engine: AsyncEngine) -> None:
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        await process_pending(db)  # the week's marks: computes Budi's punched days
        assert await pending_count(db) == (0, 0)
        await recompute_range(db, MON, SUN)
    assert (await _days(engine, BUDI))[THU].status == "tk"

    # Thursday's punches arrive days late (an edge offline): ingest marks (T1, Thu) only.
    await deliver(engine, [(BUDI, datetime(2026, 11, 5, 7, 20)), (BUDI, datetime(2026, 11, 5, 16, 10))])
    async with session_factory(engine)() as db:
        marked = (await db.execute(select(RecomputeTerminalDay.local_date))).scalars().all()
        assert marked == [THU]
        stats = await process_pending(db)
        assert await pending_count(db) == (0, 0)
        assert (await db.execute(select(func.count()).select_from(RecomputeTerminalDay))).scalar_one() == 0
    # Both employees enrolled on T1 are recomputed for Wed-Fri; only Budi's Thursday changed.
    assert stats.employees == 2
    assert stats.changed == 1
    days = await _days(engine, BUDI)
    assert (days[THU].status, days[THU].codes, days[THU].version) == ("present", None, 2)
    assert days[WED].version == 1


async def test_monthly_recap_on_the_fly(engine: AsyncEngine) -> None:
    await seeded(engine)
    await deliver(engine, WEEK)
    async with session_factory(engine)() as db:
        recap = await recap_for(db, BUDI, 2026, 11)
    assert recap is not None
    # November 2026 has 21 working days (Mon-Fri, no national holiday loaded); Budi punched on 4 of them, so
    # 17 are TK: 17 x 5 % = 85 %, plus 0.5 + 2.25 + 0.5 = 3.25 % -> 88.25 %; ten TK days in a row (16-27 Nov
    # and more) make the month 100 %.
    assert recap.working_days == 21
    assert recap.present_days == 4
    assert recap.tk_days == 17
    assert recap.tier_counts["TL1"] == 1
    assert recap.tier_counts["PSW1"] == 1
    assert recap.deduction_percent == Decimal(100)


async def test_flagged_punches_are_exceptions_and_unmatched_ones_never_reach_a_day(engine: AsyncEngine) -> None:
    await seeded(engine)
    flagged = punch("T1", PINS[BUDI], datetime(2026, 11, 2, 7, 20)).model_copy(
        update={"flags": (PunchFlag.CLOCK_RESET,)}
    )
    stranger = punch("T1", "999", datetime(2026, 11, 2, 7, 21))  # no enrollment for PIN 999
    await deliver_records(engine, [flagged, stranger, punch("T1", PINS[BUDI], datetime(2026, 11, 2, 16, 2))])
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, MON)
    day = (await _days(engine, BUDI))[MON]
    # The 07:20 check-in is flagged: not used, so the day has only a check-out -> missing check-in -> TL4.
    assert (day.status, day.codes, day.check_in) == ("present", "TL4", None)
    exceptions = day.result["exceptions"]
    assert [(e["punch"]["local_time"], e["reason"]) for e in exceptions] == [("2026-11-02T07:20:00", "flagged")]
    assert exceptions[0]["punch"]["flags"] == ["clock_reset"]


async def test_a_wrong_pin_mapping_moves_the_punches_to_the_right_employee(engine: AsyncEngine) -> None:
    await seeded(engine)
    # Siti punched on Budi's PIN on Monday (the PINs were swapped at enrollment).
    await deliver(engine, [(BUDI, datetime(2026, 11, 2, 7, 40)), (BUDI, datetime(2026, 11, 2, 16, 0))])
    async with session_factory(engine)() as db:
        await recompute_range(db, MON, MON)
        correction = WrongPinMapping(
            kind="wrong_pin_mapping",
            terminal_sn="T1",
            pin=PINS[BUDI],
            nip=SITI,
            first=MON,
            last=MON,
            reason="PIN tertukar saat pendaftaran",
        )
        out = await create_correction(db, correction, "token:operator")
    assert out.before is not None
    assert out.after is not None
    assert set(out.before) == set(out.after) == {f"{BUDI}/2026-11-02", f"{SITI}/2026-11-02"}
    assert out.before[f"{SITI}/2026-11-02"]["codes"] == "TK"
    budi, siti = (await _days(engine, BUDI))[MON], (await _days(engine, SITI))[MON]
    # 07:40 is 10 minutes late -> TL1, now Siti's; Budi has no punch left -> TK. Both are version 2.
    assert (siti.codes, siti.version, budi.codes, budi.version) == ("TL1", 2, "TK", 2)


async def test_activating_a_policy_or_changing_schedules_marks_everyone(engine: AsyncEngine) -> None:
    await seeded(engine, policy=False)
    async with session_factory(engine)() as db:
        with pytest.raises(NoPolicy):
            await process_pending(db)  # the enrollment marks stay queued until a policy is active
    async with session_factory(engine)() as db:
        before = (await db.execute(select(RecomputeQueue.reason))).scalars().all()
        await records.upload_policy(db, preset_text(), "yaml", "test", activate=True)
        after = (await db.execute(select(RecomputeQueue.nip).where(RecomputeQueue.reason == "policy"))).scalars()
        assert sorted(after.all()) == sorted([BUDI, SITI])
        assert "policy" not in before
        stats = await process_pending(db)
        assert stats.employees == 2
        assert await pending_count(db) == (0, 0)


async def test_a_range_before_everyone_started_computes_nothing_and_fails_nothing(engine: AsyncEngine) -> None:
    # Everyone is active from 2020-01-01: a range in 2019 holds none of their days (the fuzz found an IndexError).
    await seeded(engine)
    async with session_factory(engine)() as db:
        stats = await recompute_range(db, date(2019, 3, 1), date(2019, 3, 5))
    assert (stats.employees, stats.days, stats.inserted) == (2, 0, 0)

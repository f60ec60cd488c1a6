"""`presensi demo` in a short configuration, as a user runs it: every punch made at a terminal is stored at
the hub once, the days are computed and the summary says so (summary.json and the exit code)."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from simulators.chain.demo import day_window, demo_days, demo_employees, demo_nip
from simulators.chain.harness import Tally


def test_a_short_demo_stores_every_punch_made_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "presensi.cli", "demo", "--days", "1", "--terminals", "4", "--employees", "40",
         "--speed", "3600", "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    punches = summary["punches"]
    assert punches["made"] > 40  # 40 employees check in and out, a few double-punch, a few are absent
    assert punches["stored"] == punches["made"]
    assert (punches["missing"], punches["unexpected"], punches["duplicate_rows"]) == (0, 0, 0)
    assert summary["ok"] is True
    assert summary["loaded"]["employees"] == 40
    assert summary["recompute"]["days"] == 40  # one working day for each of the 40
    assert summary["attendance_days"]["days"] == 40
    assert sorted(f["fault"] for f in summary["week"]["faults"]) == [
        "broker outage", "broker restored", "clock set by technician", "terminal power loss",
    ]  # fmt: skip
    assert summary["exceptions"]["dead_letters"] == 0
    feed = summary["ekinerja"]
    assert feed["status"] == "sent"
    assert feed["receiver_records"]["daily"] >= 40
    if feed["months_closed"]:  # a month that has not ended cannot be closed
        assert feed["receiver_records"]["monthly"] == 40
    assert "every punch made at a terminal is stored at the hub, once" in done.stdout


def test_a_tally_with_a_missing_or_doubled_punch_is_not_complete() -> None:
    fine = Tally(made_records=2, made=2, stored=2, stored_rows=2, missing=[], unexpected=[])
    assert fine.complete
    assert not Tally(made_records=2, made=2, stored=1, stored_rows=1, missing=["k"], unexpected=[]).complete
    assert not Tally(made_records=2, made=2, stored=2, stored_rows=3, missing=[], unexpected=[]).complete
    assert not Tally(made_records=2, made=2, stored=3, stored_rows=3, missing=[], unexpected=["x"]).complete


def test_the_demo_week_is_over_and_its_people_pass_the_hubs_checks() -> None:
    from hub.registry.nip import parse_nip

    days = demo_days(5, today=date(2026, 12, 3))
    assert (days[0], days[-1]) == (date(2026, 11, 23), date(2026, 11, 27))
    begin, end = day_window(days[0], ("Asia/Jakarta", "Asia/Makassar"))
    assert (begin.hour, begin.minute, end.hour, end.minute) == (22, 15, 10, 30)  # 06:15 WITA, 17:30 WIB
    people = demo_employees(2, 150)
    assert len({p.nip for p in people}) == len({p.pin for p in people}) == 300
    for person in people:
        parse_nip(person.nip)
    parse_nip(demo_nip(123_456))


@pytest.mark.slow
def test_the_default_demo_matches_made_and_stored(tmp_path: Path) -> None:
    """`make demo` as shipped: 8 terminals, 300 employees, 2 edges, five days, faults on."""
    run_dir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "presensi.cli", "demo", "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["punches"]["made"] == summary["punches"]["stored"] > 2000
    assert summary["punches"]["duplicate_rows"] == 0
    assert summary["recompute"]["days"] == 1500
    assert summary["exceptions"]["flagged_by_reason"].get("clock_reset", 0) > 0  # the power loss shows

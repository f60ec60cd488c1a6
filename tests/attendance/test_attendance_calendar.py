"""The holiday calendar: the bundled 2026 SKB data and imports that report every bad row."""

from datetime import date

from hub.attendance.calendar import (
    Holiday,
    HolidayCalendar,
    HolidayKind,
    bundled_calendar,
    parse_holidays_csv,
    parse_holidays_yaml,
)
from hub.attendance.importing import RowError


def test_bundled_2026_has_17_national_holidays_and_8_days_of_cuti_bersama() -> None:
    calendar = bundled_calendar(2026)
    kinds = [h.kind for h in calendar.holidays]
    assert (kinds.count(HolidayKind.NATIONAL), kinds.count(HolidayKind.CUTI_BERSAMA)) == (17, 8)
    assert {h.day.year for h in calendar.holidays} == {2026}


def test_bundled_2026_knows_idulfitri_and_its_cuti_bersama() -> None:
    calendar = bundled_calendar(2026)
    assert [getattr(calendar.on(date(2026, 3, d)), "kind", None) for d in (20, 21, 22, 23, 24)] == [
        HolidayKind.CUTI_BERSAMA,
        HolidayKind.NATIONAL,
        HolidayKind.NATIONAL,
        HolidayKind.CUTI_BERSAMA,
        HolidayKind.CUTI_BERSAMA,
    ]
    assert calendar.on(date(2026, 8, 17)) is not None
    assert calendar.on(date(2026, 8, 18)) is None


def test_csv_import_keeps_good_rows_and_reports_bad_ones() -> None:
    text = (
        "date,name,kind\n"
        "2026-01-01,Tahun Baru,libur_nasional\n"
        "2026-02-30,Tanggal salah,libur_nasional\n"
        "2026-12-24,,cuti_bersama\n"
        "2026-12-24,Cuti bersama Natal,libur\n"
        "2026-12-24,Cuti bersama Natal,cuti_bersama\n"
    )
    parsed = parse_holidays_csv(text)
    assert [h.day for h in parsed.items] == [date(2026, 1, 1), date(2026, 12, 24)]
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "date"), (4, "name"), (5, "kind")]


def test_csv_without_a_required_column_is_one_header_error() -> None:
    parsed = parse_holidays_csv("tanggal,name\n2026-01-01,Tahun Baru\n")
    assert parsed.errors == (RowError(1, "date,kind", "missing column(s) in the header"),)


def test_yaml_import_reports_items_by_position() -> None:
    parsed = parse_holidays_yaml(
        "holidays:\n"
        "  - {date: 2026-01-01, name: Tahun Baru, kind: libur_nasional}\n"
        "  - {date: 2026-01-16, name: Isra Mikraj}\n"
    )
    assert len(parsed.items) == 1
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "kind")]
    assert not parse_holidays_yaml("- not a mapping").ok


def test_a_national_holiday_wins_over_cuti_bersama_on_the_same_date() -> None:
    day = date(2026, 5, 14)
    calendar = HolidayCalendar((Holiday(day, "CB", HolidayKind.CUTI_BERSAMA),)).merged(
        HolidayCalendar((Holiday(day, "Kenaikan", HolidayKind.NATIONAL),))
    )
    assert calendar.on(day) == Holiday(day, "Kenaikan", HolidayKind.NATIONAL)

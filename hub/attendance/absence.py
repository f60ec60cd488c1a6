"""Excused absences: kinds with the codes users see, date ranges and approval status.

Only an APPROVED absence excuses a day (overrides late, early and TK); a pending or rejected request is shown
but changes nothing, so an employee cannot erase a TK by filing a request nobody has approved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class AbsenceKind(StrEnum):
    CUTI_TAHUNAN = "CT"
    CUTI_SAKIT = "CS"
    CUTI_BESAR = "CB"
    CUTI_MELAHIRKAN = "CM"
    CUTI_ALASAN_PENTING = "CAP"
    CUTI_BERSAMA = "CBR"  # cuti bersama taken as personal leave (a unit that works on a cuti bersama date)
    CLTN = "CLTN"  # cuti di luar tanggungan negara
    SAKIT = "S"  # short sickness with a note, not a formal cuti sakit
    DINAS_LUAR = "DL"
    IZIN = "I"
    TUGAS_BELAJAR = "TB"


ABSENCE_NAMES: dict[AbsenceKind, str] = {
    AbsenceKind.CUTI_TAHUNAN: "Cuti tahunan",
    AbsenceKind.CUTI_SAKIT: "Cuti sakit",
    AbsenceKind.CUTI_BESAR: "Cuti besar",
    AbsenceKind.CUTI_MELAHIRKAN: "Cuti melahirkan",
    AbsenceKind.CUTI_ALASAN_PENTING: "Cuti karena alasan penting",
    AbsenceKind.CUTI_BERSAMA: "Cuti bersama",
    AbsenceKind.CLTN: "Cuti di luar tanggungan negara",
    AbsenceKind.SAKIT: "Sakit",
    AbsenceKind.DINAS_LUAR: "Dinas luar",
    AbsenceKind.IZIN: "Izin",
    AbsenceKind.TUGAS_BELAJAR: "Tugas belajar",
}


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Absence:
    """``first``..``last`` inclusive."""

    nip: str
    kind: AbsenceKind
    first: date
    last: date
    status: ApprovalStatus
    reference: str = ""  # the leave letter or SPT number

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"absence {self.kind} ends ({self.last}) before it starts ({self.first})")

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last

    @property
    def code(self) -> str:
        return self.kind.value

    @property
    def is_official_duty(self) -> bool:
        """Work done elsewhere: activities outside the office are expected, not suspicious."""
        return self.kind in {AbsenceKind.DINAS_LUAR, AbsenceKind.TUGAS_BELAJAR}


def approved_absence_on(absences: Iterable[Absence], day: date) -> Absence | None:
    """The approved absence covering ``day``. If two overlap (a data error upstream), the one that started
    last wins, then the code, so the answer does not depend on the order the store returned them."""
    covering = [a for a in absences if a.status == ApprovalStatus.APPROVED and a.covers(day)]
    return max(covering, key=lambda a: (a.first, a.code), default=None)

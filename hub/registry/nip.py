"""NIP, the 18-digit civil-servant number: birth date YYYYMMDD, appointment YYYYMM, gender, sequence.

``19870512 201503 1 002`` is a man born 12 May 1987, appointed March 2015, the second such number.
"""

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

EARLIEST_BIRTH_YEAR = 1900
NIP_PATTERN = re.compile(r"\d{18}")


class NipError(ValueError):
    """A NIP that cannot be a real one; the message names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class Nip:
    value: str
    birth_date: date
    appointed: tuple[int, int]  # (year, month)
    gender: Literal["male", "female"]
    sequence: int


def parse_nip(value: str, *, today: date | None = None) -> Nip:
    """Check the structure of ``value`` and return its parts, or raise NipError saying why not."""
    today = today or date.today()
    if not NIP_PATTERN.fullmatch(value):
        digits = sum(c.isdigit() for c in value)
        raise NipError(f"NIP must be exactly 18 digits, got {len(value)} characters ({digits} digits)")
    birth_text, appointed_text, gender_digit, sequence = value[:8], value[8:14], value[14], value[15:]
    try:
        birth = date(int(birth_text[:4]), int(birth_text[4:6]), int(birth_text[6:]))
    except ValueError:
        raise NipError(f"birth date {birth_text} (digits 1-8) is not a valid YYYYMMDD date") from None
    if birth.year < EARLIEST_BIRTH_YEAR or birth > today:
        raise NipError(f"birth date {birth_text} (digits 1-8) is not plausible")
    year, month = int(appointed_text[:4]), int(appointed_text[4:])
    if not 1 <= month <= 12:
        raise NipError(f"appointment {appointed_text} (digits 9-14) is not a valid YYYYMM month")
    if (year, month) <= (birth.year, birth.month):
        raise NipError(f"appointment {appointed_text} (digits 9-14) is not after birth {birth_text}")
    if (year, month) > (today.year + 1, today.month):
        raise NipError(f"appointment {appointed_text} (digits 9-14) is in the future")
    if gender_digit not in "12":
        raise NipError(f"gender digit (15th) must be 1 (male) or 2 (female), got {gender_digit}")
    return Nip(value, birth, (year, month), "male" if gender_digit == "1" else "female", int(sequence))

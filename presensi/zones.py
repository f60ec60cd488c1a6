"""IANA time zones as the project accepts them: terminals and units keep naive local time in one."""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def check_zone(zone: str) -> str:
    """Return ``zone`` if it names an IANA zone; ValueError with examples otherwise."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA zone {zone!r} (e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)") from exc
    return zone


ZoneName = Annotated[str, AfterValidator(check_zone)]

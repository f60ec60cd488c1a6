"""The natural idempotency key of a punch (architecture decision 1).

A punch is the same punch wherever it is seen if it came from the same terminal, for the same
PIN, at the same device-local second, with the same status. Both the edge buffer and the hub
store put a UNIQUE constraint on this string, so any resend is harmless.
"""

from datetime import datetime

KEY_SEPARATOR = "|"


def punch_key(terminal_sn: str, pin: str, local_time: datetime, status: int) -> str:
    """Return ``SERIAL|PIN|YYYYMMDDTHHMMSS|STATUS`` for a punch.

    ``local_time`` is the terminal's naive local time (the legal record); seconds are the
    terminal's resolution, so anything finer is ignored.
    """
    if local_time.tzinfo is not None:
        raise ValueError("punch_key takes the terminal's naive local time, not an aware datetime")
    for name, value in (("terminal_sn", terminal_sn), ("pin", pin)):
        if not value or KEY_SEPARATOR in value:
            raise ValueError(f"{name} must be non-empty and must not contain {KEY_SEPARATOR!r}: {value!r}")
    return KEY_SEPARATOR.join((terminal_sn, pin, local_time.strftime("%Y%m%dT%H%M%S"), str(int(status))))

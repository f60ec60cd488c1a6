"""What every CSV/YAML import in this package returns: the rows that parsed and, for the others, why not.

Imports never stop at the first bad row: an operator fixes a file once, not once per error."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    """``line`` is the 1-based line of the file (the header is line 1 in a CSV)."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


@dataclass(frozen=True)
class Parsed(Generic[T]):
    items: tuple[T, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


class FieldError(ValueError):
    """A bad value in one named field; the parser turns it into a ``RowError`` for the row's line."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def csv_rows(text: str, required: tuple[str, ...]) -> Iterator[tuple[int, Mapping[str, str]]] | RowError:
    """``(line, row)`` pairs of a CSV with a header, or the error for a header lacking a required column."""
    # newline="": the csv module then reads \n, \r\n and a lone \r as line ends itself. Rows are read at once so
    # that a file the csv module cannot read (a field past its 128 KiB limit) is one error, not an exception.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in required if name not in header]
        if missing:
            return RowError(1, ",".join(missing), "missing column(s) in the header")
        reader.fieldnames = header
        rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}) for row in reader]
    except csv.Error as exc:
        return RowError(reader.line_num, "file", f"not readable as CSV: {exc}")
    return iter(rows)


def parse_date(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldError(field, f"{value!r} is not a date (YYYY-MM-DD)") from None


def parse_time(field: str, value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise FieldError(field, f"{value!r} is not a time (HH:MM or HH:MM:SS)") from None


def parse_int(field: str, value: str, *, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise FieldError(field, f"{value!r} is not a whole number") from None
    if number < minimum:
        raise FieldError(field, f"must be >= {minimum}")
    return number

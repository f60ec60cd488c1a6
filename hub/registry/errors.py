"""Registry errors; the API turns each into its one JSON error shape with the matching status."""

from typing import Any


class RegistryError(Exception):
    code = "invalid"
    status = 422

    def __init__(self, message: str, details: Any = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.field = field  # the input field at fault, when there is one


class NotFound(RegistryError):
    code = "not_found"
    status = 404


class Conflict(RegistryError):
    code = "conflict"
    status = 409

"""Shared fixtures: a private Mosquitto per test (or per module) and the databases to run store tests on."""

import os
from collections.abc import Iterator

import pytest

from presensi.mosquitto import MosquittoBroker

POSTGRES_URL = os.environ.get("PRESENSI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("PRESENSI_REQUIRE_POSTGRES", "") not in ("", "0", "false")


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    """A fresh Mosquitto on a free port, stopped after the test."""
    with MosquittoBroker() as running:
        yield running


@pytest.fixture(scope="module")
def module_broker() -> Iterator[MosquittoBroker]:
    with MosquittoBroker() as running:
        yield running


def postgres_reachable(url: str = POSTGRES_URL) -> bool:
    """True when PostgreSQL accepts a TCP connection at ``url``."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    """Return the PostgreSQL URL, or skip (fail under CI's PRESENSI_REQUIRE_POSTGRES) when unreachable."""
    if postgres_reachable():
        return POSTGRES_URL
    message = f"PostgreSQL not reachable at {POSTGRES_URL}"
    if REQUIRE_POSTGRES:
        pytest.fail(message + " and PRESENSI_REQUIRE_POSTGRES is set")
    pytest.skip(message)

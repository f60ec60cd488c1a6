"""Fixtures for the ZK simulator tests: a fleet on loopback, serving terminals to unmodified pyzk 0.9."""

from collections.abc import Iterator

import pytest

from simulators.zk.fleet import Fleet


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet() as running:
        yield running


@pytest.fixture(params=["tcp", "udp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)

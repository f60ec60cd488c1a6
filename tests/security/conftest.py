"""The secure broker is started once per module: making certificates and logins takes a second."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.brokerkit import SecureBroker, start_secure_broker


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[SecureBroker]:
    with tempfile.TemporaryDirectory(prefix="presensi-secure-broker-") as tmp:
        secure = start_secure_broker(Path(tmp))
        try:
            yield secure
        finally:
            secure.broker.close()

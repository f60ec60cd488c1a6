"""The secure broker is started once for the package: making certificates and logins takes a few seconds."""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.brokerkit import SecureBroker, start_secure_broker


@pytest.fixture(scope="package")
def secure_broker() -> Iterator[SecureBroker]:
    with tempfile.TemporaryDirectory(prefix="presensi-secure-broker-") as tmp:
        secure = start_secure_broker(Path(tmp))
        try:
            yield secure
        finally:
            secure.broker.close()

"""Hub fixtures: a migrated store parametrized over SQLite and PostgreSQL, and a stand-in edge."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.db import create_engine
from hub.store.migrate import upgrade
from presensi.mosquitto import MosquittoBroker
from tests.hub.hub_testkit import FakeEdge, Store, provision

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with provision(request.param, tmp_path) as provisioned:
        yield provisioned


@pytest.fixture
async def engine(store: Store) -> AsyncIterator[AsyncEngine]:
    """The store, migrated to head with Alembic (never ``create_all``)."""
    created = create_engine(store.database)
    await upgrade(created)
    yield created
    await created.dispose()


@pytest.fixture
def edge(broker: MosquittoBroker) -> Iterator[FakeEdge]:
    fake = FakeEdge(broker)
    yield fake
    fake.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """For tests whose subject is the process, not the store."""
    async with provision("sqlite", tmp_path) as provisioned:
        yield provisioned


@pytest.fixture
async def sqlite_engine(sqlite_store: Store) -> AsyncIterator[AsyncEngine]:
    created = create_engine(sqlite_store.database)
    await upgrade(created)
    yield created
    await created.dispose()

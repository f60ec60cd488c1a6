"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright) against the real hub:
``presensi hub run`` on a free port with its ingest worker on a private Mosquitto, on SQLite and PostgreSQL.

Screenshots of every page land in test-artifacts/dashboard/ (laptop width, and the Today board at phone width).
"""

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.db import session_factory
from hub.store.models import Edge, TerminalHealth
from presensi.contract import BufferHealth, EdgeHealth, EdgeStatus, EdgeTopics
from presensi.contract import TerminalHealth as TerminalReport
from presensi.mosquitto import MosquittoBroker, free_port
from tests.hub.attendance_kit import BUDI
from tests.hub.dashboard_kit import ANI, DAY, MONTH, PASSWORD, UNMATCHED_PIN, seed_dashboard
from tests.hub.hub_testkit import FakeEdge, Store, eventually

CHROMIUM = Path(os.environ.get("PRESENSI_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "dashboard"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("PRESENSI_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{CHROMIUM} is missing: `scripts/ensure-system-deps.sh chromium` installs it")
    pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")


@dataclass(frozen=True)
class RunningHub:
    url: str
    store: Store


@contextlib.asynccontextmanager
async def running_hub(store: Store, broker: MosquittoBroker, tmp_path: Path) -> AsyncIterator[RunningHub]:
    port = free_port()
    schema = f'schema = "{store.database.db_schema}"\n' if store.database.db_schema else ""
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[database]\nurl = "{store.database.url}"\n{schema}'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nclient_id = "hub-dashboard-test"\n'
        "allow_insecure = true\n"
        f'[api]\nhost = "127.0.0.1"\nport = {port}\n'
        '[dashboard]\ntime_zone = "Asia/Jakarta"\nsession_hours = 1\n',
        encoding="utf-8",
    )
    presensi = shutil.which("presensi", path=str(Path(sys.executable).parent)) or "presensi"
    log = (tmp_path / "hub.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        presensi, "hub", "run", "--config", str(config), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                assert process.returncode is None, (tmp_path / "hub.log").read_text()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the hub did not answer /healthz: " + (tmp_path / "hub.log").read_text())
        yield RunningHub(url, store)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


@pytest.fixture
async def hub(store: Store, engine: AsyncEngine, broker: MosquittoBroker, tmp_path: Path) -> AsyncIterator[RunningHub]:
    _require_chromium()
    await seed_dashboard(engine)
    async with running_hub(store, broker, tmp_path) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        await launched.close()


async def _page(browser: Browser, hub: RunningHub, viewport: dict[str, int] = LAPTOP) -> Page:
    context = await browser.new_context(base_url=hub.url, viewport=viewport)  # type: ignore[arg-type]
    return await context.new_page()


async def _sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    await page.goto("/dashboard/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def _shot(page: Page, store: Store, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{store.kind}-{name}.png"), full_page=True)


def _report_fleet(broker: MosquittoBroker) -> None:
    """What an edge agent publishes: its retained birth and a heartbeat with one drifting, one nearly full terminal."""
    edge = FakeEdge(broker, "edge-a")
    topics = EdgeTopics("edge-a")
    now = datetime.now(UTC)
    try:
        status = EdgeStatus(
            edge_id="edge-a",
            state="online",
            session=1,
            ts=now,
            reason="connected",
            agent_version="0.1.0",
            terminals=("T1", "T2"),
        )
        edge.send(status.model_dump_json(), topics.status, retain=True)
        terminals = (
            TerminalReport(
                terminal_sn="T1",
                name="Lobi",
                reachable=True,
                last_poll=now,
                last_success=now,
                records=1200,
                record_capacity=100_000,
                users=40,
                drift_seconds=312.0,
            ),
            TerminalReport(
                terminal_sn="T2",
                name="Aula",
                reachable=True,
                last_poll=now,
                last_success=now,
                records=95_500,
                record_capacity=100_000,
                users=35,
                drift_seconds=1.5,
            ),
        )
        buffer = BufferHealth(
            pending=12,
            sent=30,
            acknowledged=5000,
            oldest_unacked=now - timedelta(minutes=2),
            disk_bytes=3_500_000,
            disk_budget_bytes=512 * 1024 * 1024,
            budget_reached=False,
        )
        health = EdgeHealth(
            edge_id="edge-a", session=1, ts=now, uptime_seconds=3600, last_seq=1, buffer=buffer, terminals=terminals
        )
        edge.send(health.model_dump_json(), topics.health)
    finally:
        edge.close()


async def _count(engine: AsyncEngine, model: type) -> int:
    async with session_factory(engine)() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def test_an_operator_reads_the_board_maps_a_pin_and_corrects_a_day(
    hub: RunningHub, browser: Browser, broker: MosquittoBroker, engine: AsyncEngine
) -> None:
    page = await _page(browser, hub)
    await page.goto("/dashboard/login")
    await _shot(page, hub.store, "01-sign-in")
    await _sign_in(page, "operator")
    await expect(page.locator(".user")).to_contain_text("operator")

    # Today's board (for the fixed Tuesday of the seed): Budi in and late (TL1), Siti and Ani not yet in.
    await page.goto(f"/dashboard/today?day={DAY}")
    await expect(page.locator("h1")).to_contain_text("Kehadiran hari ini")
    await expect(page.locator('[data-count="in"]')).to_have_text("1")
    await expect(page.locator('[data-count="late"]')).to_have_text("1")
    await expect(page.locator('[data-count="not_yet_in"]')).to_have_text("2")
    await expect(page.locator('tr[data-unit="BKPSDM"] [data-col="late"]')).to_contain_text("TL1: 1")
    await expect(page.locator('rect.bar[data-count="1"]')).to_have_count(1)
    await _shot(page, hub.store, "02-today")
    phone = await _page(browser, hub, PHONE)
    await _sign_in(phone, "operator")
    await phone.goto(f"/dashboard/today?day={DAY}")
    await expect(phone.locator('[data-count="in"]')).to_have_text("1")
    await _shot(phone, hub.store, "02-today-phone")

    # The language switch: the same board in English.
    await page.click('a.lang[data-lang="en"]')
    await expect(page.locator("h1")).to_contain_text("Attendance today")
    await page.click('a.lang[data-lang="id"]')

    # Terminals: a heartbeat through the broker and the hub's ingest; the drifting and the nearly full stand out.
    _report_fleet(broker)
    await eventually(lambda: True)  # let the publish leave before polling the store
    for _ in range(200):
        if await _count(engine, TerminalHealth) == 2 and await _count(engine, Edge) == 1:
            break
        await asyncio.sleep(0.05)
    await page.goto("/dashboard/terminals")
    await expect(page.locator('tr[data-terminal="T1"] [data-flag="drifting"]')).to_be_visible()
    await expect(page.locator('tr[data-terminal="T2"] [data-flag="nearly_full"]')).to_be_visible()
    await expect(page.locator('tr[data-terminal="T1"]')).to_have_class("standout")
    await expect(page.locator('tr[data-edge="edge-a"] [data-col="buffer"]')).to_have_text("42")
    await _shot(page, hub.store, "03-terminals")

    # Exceptions: PIN 99 on T1 is nobody's; map it to Ani in place and see her punches attributed.
    await page.goto("/dashboard/exceptions")
    row = page.locator(f'#unmatched tr[data-terminal="T1"][data-pin="{UNMATCHED_PIN}"]')
    await expect(row).to_be_visible()
    await expect(page.locator("#suspect")).to_contain_text("clock_drift")
    await _shot(page, hub.store, "04-exceptions")
    await row.locator("input[name=nip]").fill(ANI)
    await row.locator("button[type=submit]").click()
    await expect(page.locator(".notice")).to_contain_text("Ani Lestari")
    await expect(page.locator("#attributed .attributed-name")).to_have_count(2)
    await expect(page.locator("#attributed .attributed-name").first).to_have_text("Ani Lestari")
    await expect(row).to_have_count(0)
    await _shot(page, hub.store, "05-exceptions-mapped")

    # Employee month: Budi forgot to punch out on the 24th; a correction changes the recap at once.
    await page.goto(f"/dashboard/employees/{BUDI}?month={MONTH}")
    deduction = page.locator("#recap-deduction")
    before = await deduction.inner_text()
    await expect(page.locator("#activities")).to_contain_text("submitted")
    await _shot(page, hub.store, "06-employee-month")
    await page.fill("#correction-form input[name=local_time]", "2026-11-24T16:05")
    await page.fill("#correction-form input[name=reason]", "Terminal antre, lupa absen pulang (memo atasan)")
    await page.click("#correction-form button[type=submit]")
    await expect(page.locator(".notice")).to_be_visible()
    await expect(deduction).not_to_have_text(before)
    await expect(page.locator("#corrections")).to_contain_text("user:operator")
    await expect(page.locator('#days tr[data-day="2026-11-24"]')).to_contain_text("16:05")
    await _shot(page, hub.store, "07-employee-corrected")
    review = page.locator("#activities .review-form").first
    await review.locator("select[name=action]").select_option("approve")
    await review.locator("button[type=submit]").click()
    await expect(page.locator("#activities .review-state").first).to_have_text("approved")

    # Recaps by unit: the feed's CSV/XLSX exports for the signed-in user, and the feed status of the month.
    await page.goto(f"/dashboard/recaps?unit=BKPSDM&month={MONTH}")
    await expect(page.locator(f'#recaps tr[data-nip="{BUDI}"]')).to_be_visible()
    await expect(page.locator("#xlsx")).to_have_attribute(
        "href", f"/dashboard/exports/recaps.xlsx?unit=BKPSDM&month={MONTH}"
    )
    async with page.expect_download() as download_info:
        await page.click("#csv")
    download = await download_info.value
    assert download.suggested_filename == f"recaps-{MONTH}-BKPSDM.csv"
    csv_text = (await asyncio.to_thread(Path(await download.path()).read_bytes)).decode("utf-8-sig")
    assert BUDI in csv_text
    assert ANI in csv_text
    await expect(page.locator("#feed")).to_contain_text("Rekap harian (daily)")
    await expect(page.locator("#feed-unavailable")).to_have_count(0)
    await _shot(page, hub.store, "08-recaps")
    await page.goto("/dashboard/employees?q=ani")
    await expect(page.locator("#employees")).to_contain_text("Ani Lestari")
    await _shot(page, hub.store, "09-employees")


# Store-independent behaviour: SQLite in `make test`, PostgreSQL with the slow runs (the operator flow runs on both).
@pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])], indirect=True
)
async def test_a_viewer_sees_no_write_controls(hub: RunningHub, browser: Browser) -> None:
    page = await _page(browser, hub)
    await _sign_in(page, "viewer")
    await expect(page.locator(".user")).to_contain_text("viewer")
    await page.goto("/dashboard/exceptions")
    await expect(page.locator(f'#unmatched tr[data-pin="{UNMATCHED_PIN}"]')).to_be_visible()
    await expect(page.locator(".map-form")).to_have_count(0)
    await expect(page.locator(".resolve-form")).to_have_count(0)
    await _shot(page, hub.store, "10-viewer-exceptions")
    await page.goto(f"/dashboard/employees/{BUDI}?month={MONTH}")
    await expect(page.locator("#recap")).to_be_visible()
    await expect(page.locator("#correction-form")).to_have_count(0)
    await expect(page.locator("form[method=post]")).to_have_count(1)  # signing out, nothing else


# Store-independent behaviour: SQLite in `make test`, PostgreSQL with the slow runs (the operator flow runs on both).
@pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])], indirect=True
)
async def test_wrong_passwords_are_rate_limited(hub: RunningHub, browser: Browser) -> None:
    page = await _page(browser, hub)
    for _ in range(5):
        await _sign_in(page, "admin", "not the password")
        await expect(page.locator("#login-problem")).to_contain_text("salah")
    await _sign_in(page, "admin")  # the right password, but the account is locked for the window
    await expect(page.locator("#login-problem")).to_contain_text("Terlalu banyak")
    await _shot(page, hub.store, "11-sign-in-limited")
    await expect(page).to_have_url(f"{hub.url}/dashboard/login")

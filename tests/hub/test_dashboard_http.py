"""The dashboard over plain HTTP (the app in process): sign-in, CSRF and role refusals, every page in both
languages, and the writes going through the audited services."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.access import Role, issue_token
from hub.api.app import create_app
from hub.dashboard.i18n import LANGUAGES, MESSAGES
from hub.store.db import session_factory
from hub.store.models import AuditEntry, DeadLetterResolution, Enrollment, HubSession
from tests.hub.attendance_kit import BUDI
from tests.hub.dashboard_kit import ANI, DAY, MONTH, PASSWORD, UNMATCHED_PIN, csrf_of, seed_dashboard, sign_in

PAGES = [
    f"/dashboard/today?day={DAY}",
    "/dashboard/terminals",
    "/dashboard/exceptions",
    "/dashboard/employees",
    f"/dashboard/employees/{BUDI}?month={MONTH}",
    f"/dashboard/recaps?unit=BKPSDM&month={MONTH}",
]


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    await seed_dashboard(engine)
    transport = httpx.ASGITransport(app=create_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as opened:
        yield opened


async def _count(engine: AsyncEngine, model: type, *where: object) -> int:
    async with session_factory(engine)() as db:
        return int((await db.execute(select(func.count()).select_from(model).where(*where))).scalar_one())  # type: ignore[arg-type]


async def outcome(client: httpx.AsyncClient, response: httpx.Response) -> str:
    """Follow a write's redirect: the page shows its outcome once, as a notice or a problem."""
    assert response.status_code == 303
    page = (await client.get(response.headers["location"])).text
    found = [kind for kind in ("notice", "problem") if f'<p class="{kind}"' in page]
    assert len(found) == 1, page[:2000]
    again = (await client.get(response.headers["location"])).text
    assert f'<p class="{found[0]}"' not in again  # shown once
    return found[0]


async def test_a_link_cannot_carry_a_message_into_the_dashboard(client: httpx.AsyncClient) -> None:
    await sign_in(client, "viewer")
    page = (await client.get("/dashboard/exceptions?error=Akun+diblokir,+hubungi+0812&notice=x")).text
    assert "Akun diblokir" not in page
    assert '<p class="problem"' not in page


async def test_pages_redirect_to_sign_in_and_back(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard/terminals")
    assert page.status_code == 303
    assert page.headers["location"] == "/dashboard/login?next=/dashboard/terminals"
    signed = await sign_in(client, "operator")
    assert signed.status_code == 303
    assert (await client.get("/dashboard/terminals")).status_code == 200


async def test_every_page_renders_in_indonesian_and_english(client: httpx.AsyncClient) -> None:
    await sign_in(client, "operator")
    for language, word in (("id", "Hadir"), ("en", "In")):
        await client.get(f"/dashboard/lang/{language}?next=/dashboard/today")
        for path in PAGES:
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert f'<html lang="{language}">' in page.text
        board = await client.get(PAGES[0])
        assert f">{word}<" in board.text or f"{word}</div>" in board.text


async def test_today_board_counts_in_late_and_not_yet_in(client: httpx.AsyncClient) -> None:
    await sign_in(client, "viewer")
    page = (await client.get(PAGES[0])).text
    assert 'data-count="in">1<' in page  # Budi
    assert 'data-count="late">1<' in page  # 07:41 against 07:30
    assert 'data-count="not_yet_in">2<' in page  # Siti and Ani
    assert "TL1: 1" in page
    assert 'data-start="07:30" data-count="1"' in page  # the arrival in the histogram


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await sign_in(client, "operator")
    form = {"terminal_sn": "T1", "pin": UNMATCHED_PIN, "nip": ANI, "valid_from": str(DAY)}
    missing = await client.post("/dashboard/exceptions/map", data=form)
    wrong = await client.post("/dashboard/exceptions/map", data={**form, "csrf": "not-the-token"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert await _count(engine, Enrollment, Enrollment.pin == UNMATCHED_PIN) == 0
    token = csrf_of((await client.get("/dashboard/exceptions")).text)
    right = await client.post("/dashboard/exceptions/map", data={**form, "csrf": token})
    assert right.status_code == 303
    assert await _count(engine, Enrollment, Enrollment.pin == UNMATCHED_PIN) == 1


async def test_a_viewer_sees_no_write_controls_and_its_posts_are_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await sign_in(client, "viewer")
    for path in PAGES:
        page = (await client.get(path)).text
        # The only form a viewer may send is signing out.
        assert page.count('method="post"') == 1, path
        assert 'action="/dashboard/logout"' in page
    token = csrf_of((await client.get("/dashboard/exceptions")).text)
    form = {"csrf": token, "terminal_sn": "T1", "pin": UNMATCHED_PIN, "nip": ANI, "valid_from": str(DAY)}
    refused = await client.post("/dashboard/exceptions/map", data=form)
    assert refused.status_code == 403
    correction = {"csrf": token, "local_time": "2026-11-24T16:05", "reason": "forgot to punch out"}
    assert (await client.post(f"/dashboard/employees/{BUDI}/corrections", data=correction)).status_code == 403
    assert (
        await client.post("/dashboard/exceptions/dead-letters/1/resolve", data={"csrf": token, "reason": "seen"})
    ).status_code == 403
    assert await _count(engine, Enrollment, Enrollment.pin == UNMATCHED_PIN) == 0
    assert await _count(engine, DeadLetterResolution) == 0


async def test_wrong_passwords_are_rate_limited_per_account(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await sign_in(client, "operator", "wrong password!")).status_code == 401
    limited = await sign_in(client, "operator", PASSWORD)  # even the right password, until the window moves
    assert limited.status_code == 429
    assert (await sign_in(client, "viewer")).status_code == 303  # another account is not locked out


async def test_a_disabled_user_is_signed_out_at_once(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    from hub.users import disable_user

    await sign_in(client, "operator")
    assert (await client.get("/dashboard/terminals")).status_code == 200
    async with session_factory(engine)() as db:
        await disable_user(db, "operator", "test")
    assert (await client.get("/dashboard/terminals")).status_code == 303
    assert await _count(engine, HubSession) == 0
    assert (await sign_in(client, "operator")).status_code == 401


async def test_sign_out_ends_the_server_side_session(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await sign_in(client, "viewer")
    assert await _count(engine, HubSession) == 1
    token = csrf_of((await client.get("/dashboard/terminals")).text)
    await client.post("/dashboard/logout", data={"csrf": token})
    assert await _count(engine, HubSession) == 0
    assert (await client.get("/dashboard/terminals")).status_code == 303


async def test_resolving_a_dead_letter_needs_a_reason_and_is_audited(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await sign_in(client, "operator")
    token = csrf_of((await client.get("/dashboard/exceptions")).text)
    short = await client.post("/dashboard/exceptions/dead-letters/1/resolve", data={"csrf": token, "reason": ""})
    assert short.status_code == 303
    assert await outcome(client, short) == "problem"
    done = await client.post(
        "/dashboard/exceptions/dead-letters/1/resolve", data={"csrf": token, "reason": "edge fixed, batch resent"}
    )
    assert await outcome(client, done) == "notice"
    audited = await _count(engine, AuditEntry, AuditEntry.entity == "dead_letter", AuditEntry.actor == "user:operator")
    assert audited == 1
    page = (await client.get("/dashboard/exceptions")).text
    assert 'data-dead-letter="1"' not in page  # resolved ones leave the queue
    assert 'data-dead-letter="1"' in (await client.get("/dashboard/exceptions?resolved=true")).text


async def test_the_api_resolves_dead_letters_too(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    async with session_factory(engine)() as db:
        viewer = (await issue_token(db, "v", Role.VIEWER, "test")).secret
        operator = (await issue_token(db, "o", Role.OPERATOR, "test")).secret
    body = {"reason": "duplicate of batch 7"}
    refused = await client.post(
        "/api/v1/dead-letters/1/resolve", json=body, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert refused.status_code == 403
    done = await client.post(
        "/api/v1/dead-letters/1/resolve", json=body, headers={"Authorization": f"Bearer {operator}"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["resolved_by"] == "token:o"
    again = await client.post(
        "/api/v1/dead-letters/1/resolve", json=body, headers={"Authorization": f"Bearer {operator}"}
    )
    assert again.status_code == 409


def test_the_catalogue_has_every_phrase_in_both_languages() -> None:
    missing = [(key, language) for key, entry in MESSAGES.items() for language in LANGUAGES if not entry.get(language)]
    assert missing == []


async def test_sign_in_refuses_a_form_without_its_cookie_token(client: httpx.AsyncClient) -> None:
    forged = await client.post("/dashboard/login", data={"username": "operator", "password": PASSWORD, "csrf": "x"})
    assert forged.status_code == 403


async def test_reviewing_an_activity_goes_through_the_activity_service(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await sign_in(client, "operator")
    page = (await client.get(f"/dashboard/employees/{BUDI}?month={MONTH}")).text
    assert 'class="pill review-state">submitted<' in page
    activity = int(page.split('data-activity="')[1].split('"')[0])
    token = csrf_of(page)
    url = f"/dashboard/employees/{BUDI}/activities/{activity}/review"
    refused = await client.post(url, data={"csrf": token, "action": "reject", "comment": ""})
    assert await outcome(client, refused) == "problem"  # a rejection needs a comment
    done = await client.post(url, data={"csrf": token, "action": "approve", "month": MONTH})
    assert await outcome(client, done) == "notice"
    page = (await client.get(f"/dashboard/employees/{BUDI}?month={MONTH}")).text
    assert 'class="pill review-state">approved<' in page
    assert await _count(engine, AuditEntry, AuditEntry.entity == "activity", AuditEntry.actor == "user:operator") == 1


async def test_a_broken_terminal_day_gives_the_enrolled_their_schedule(client: httpx.AsyncClient) -> None:
    await sign_in(client, "operator")
    board = (await client.get(PAGES[0])).text
    assert 'data-count="not_yet_in">2<' in board
    token = csrf_of((await client.get("/dashboard/terminals")).text)
    done = await client.post(
        "/dashboard/terminals/T1/broken-day",
        data={"csrf": token, "day": str(DAY), "reason": "mati listrik sepanjang hari"},
    )
    assert await outcome(client, done) == "notice"
    board = (await client.get(PAGES[0])).text
    assert 'data-count="not_yet_in">1<' in board  # Siti (enrolled on T1) is present; Ani has no enrollment yet
    assert 'data-count="in">2<' in board


async def test_recaps_page_exports_and_feed_status(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await sign_in(client, "viewer")
    page = (await client.get(PAGES[-1])).text
    assert f'href="/dashboard/exports/recaps.csv?unit=BKPSDM&amp;month={MONTH}"' in page
    assert "Rekap harian (daily)" in page  # the feed's own status of the unit's month
    csv_file = await client.get(f"/dashboard/exports/recaps.csv?unit=BKPSDM&month={MONTH}")
    assert csv_file.status_code == 200
    assert csv_file.headers["content-disposition"] == f'attachment; filename="recaps-{MONTH}-BKPSDM.csv"'
    assert BUDI in csv_file.content.decode("utf-8-sig")
    days = await client.get(f"/dashboard/exports/days.xlsx?unit=BKPSDM&month={MONTH}")
    assert days.status_code == 200
    assert days.content.startswith(b"PK")  # an XLSX is a zip
    assert (await client.get("/dashboard/exports/secrets.csv?month=2026-11")).status_code == 404
    client.cookies.clear()
    assert (await client.get(f"/dashboard/exports/recaps.csv?unit=BKPSDM&month={MONTH}")).status_code == 303


async def test_recaps_page_says_feed_status_unavailable_without_the_feed_tables(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE feed_records"))
    await sign_in(client, "viewer")
    page = await client.get(PAGES[-1])
    assert page.status_code == 200
    assert 'id="feed-unavailable"' in page.text
    assert f'data-nip="{BUDI}"' in page.text  # the recaps themselves are still there

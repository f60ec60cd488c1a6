"""Mock e-Kinerja receiver: validates submissions, keeps the highest version per key, and fails or
slows down on command so the hub's outbox can be tested against outages.

``POST /api/v1/submissions`` (bearer token) takes a ``Submission``; 422 with the validation
errors for a bad one. ``/admin/*`` switches failure modes and shows what was received.
"""

import asyncio
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from presensi.ekinerja import DailyAttendance, MonthlyRecap, RecordOutcome, Submission, SubmissionResult


@dataclass
class ReceiverMode:
    down: bool = False  # every submission gets 503
    fail_rate: float = 0.0  # this share of submissions gets 500 (flaky)
    delay_seconds: float = 0.0  # every answer waits this long


@dataclass
class ReceiverState:
    mode: ReceiverMode = field(default_factory=ReceiverMode)
    records: dict[str, DailyAttendance | MonthlyRecap] = field(default_factory=dict)
    submissions: int = 0
    refused: int = 0
    stored_versions: int = 0
    duplicates: int = 0
    stale: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_app(state: ReceiverState, token: str | None, *, seed: int = 0) -> Starlette:
    rng = random.Random(seed)

    def authorised(request: Request) -> bool:
        return token is None or request.headers.get("authorization") == f"Bearer {token}"

    async def submit(request: Request) -> JSONResponse:
        mode = state.mode
        if mode.delay_seconds:
            await asyncio.sleep(mode.delay_seconds)
        if not authorised(request):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        if mode.down:
            state.refused += 1
            return JSONResponse({"error": "e-Kinerja is under maintenance"}, status_code=503)
        if mode.fail_rate and rng.random() < mode.fail_rate:
            state.refused += 1
            return JSONResponse({"error": "internal error"}, status_code=500)
        try:
            submission = Submission.model_validate_json(await request.body())
        except ValidationError as exc:
            # exc.json() and not exc.errors(): a model validator's error carries the exception object itself
            details = json.loads(exc.json(include_url=False))
            return JSONResponse({"error": "invalid submission", "details": details}, 422)
        outcomes = []
        with state.lock:
            state.submissions += 1
            for record in submission.records:
                held = state.records.get(record.key)
                if held is None or record.version > held.version:
                    state.records[record.key] = record
                    state.stored_versions += 1
                    outcome = "stored"
                elif record.version == held.version:
                    state.duplicates += 1
                    outcome = "duplicate"
                else:
                    state.stale += 1
                    outcome = "stale"
                outcomes.append(RecordOutcome(key=record.key, version=record.version, outcome=outcome))  # type: ignore[arg-type]
        result = SubmissionResult(received_at=datetime.now(UTC), outcomes=outcomes)
        return JSONResponse(result.model_dump(mode="json"))

    async def admin_mode(request: Request) -> JSONResponse:
        if request.method == "POST":
            body: dict[str, Any] = await request.json()
            unknown = set(body) - {"down", "fail_rate", "delay_seconds"}
            if unknown:
                return JSONResponse({"error": f"unknown settings {sorted(unknown)}"}, status_code=422)
            state.mode = ReceiverMode(**{**state.mode.__dict__, **body})
        return JSONResponse(state.mode.__dict__)

    async def admin_records(request: Request) -> JSONResponse:
        with state.lock:
            records = [r.model_dump(mode="json") for r in state.records.values()]
            counters = {
                "submissions": state.submissions, "refused": state.refused, "stored_versions": state.stored_versions,
                "duplicates": state.duplicates, "stale": state.stale,
            }  # fmt: skip
        return JSONResponse({"counters": counters, "records": records})

    return Starlette(
        routes=[
            Route("/api/v1/submissions", submit, methods=["POST"]),
            Route("/admin/mode", admin_mode, methods=["GET", "POST"]),
            Route("/admin/records", admin_records, methods=["GET"]),
        ]
    )


class ReceiverServer:
    """The mock receiver on a free (or given) port in a background thread, for tests and the demo."""

    def __init__(self, port: int = 0, *, token: str | None = None, host: str = "127.0.0.1") -> None:
        import uvicorn

        from presensi.mosquitto import free_port

        self.state = ReceiverState()
        self.host = host
        self.port = port or free_port(host)
        self.token = token
        config = uvicorn.Config(build_app(self.state, token), host=host, port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="ekinerja-mock", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v1/submissions"

    def start(self, timeout: float = 10.0) -> "ReceiverServer":
        self._thread.start()
        deadline = datetime.now(UTC).timestamp() + timeout
        while not self._server.started:
            if datetime.now(UTC).timestamp() > deadline:
                raise TimeoutError("mock e-Kinerja receiver did not start")
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

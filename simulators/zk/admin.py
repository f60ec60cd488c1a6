"""The simulator's admin port: inspect terminals, inject punches, flip faults over HTTP.

Served by uvicorn on the fleet's own event loop, so handlers act on the terminals directly.
Used by ``presensi sim ctl`` and by tests that run the simulator as a subprocess.
"""

from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.zk.fleet import Fleet, SimulatedTerminal
from simulators.zk.layouts import PROFILES
from simulators.zk.terminal import Faults

ACTIONS = ("power_off", "power_on", "power_loss", "clear_log", "restart")


def _terminal(fleet: Fleet, serial: str) -> SimulatedTerminal:
    for handle in fleet.terminals:
        if handle.terminal.serial == serial:
            return handle
    raise HTTPException(404, f"no terminal with serial {serial!r}")


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, "body must be a JSON object")
    return body


def build_app(fleet: Fleet) -> Starlette:
    async def list_terminals(request: Request) -> JSONResponse:
        return JSONResponse([{**h.terminal.describe(), "port": h.port} for h in fleet.terminals])

    async def show_terminal(request: Request) -> JSONResponse:
        handle = _terminal(fleet, request.path_params["serial"])
        return JSONResponse({**handle.terminal.describe(), "port": handle.port})

    async def punch(request: Request) -> JSONResponse:
        handle = _terminal(fleet, request.path_params["serial"])
        body = await _json(request)
        try:
            record = handle.terminal.punch(str(body["pin"]), int(body.get("status", 0)), int(body.get("verify", 1)))
        except KeyError as exc:
            raise HTTPException(422, str(exc)) from exc
        if record is None:
            return JSONResponse({"recorded": False})
        return JSONResponse({"recorded": True, "timestamp": record.timestamp.isoformat(), "uid": record.uid})

    async def add_user(request: Request) -> JSONResponse:
        handle = _terminal(fleet, request.path_params["serial"])
        body = await _json(request)
        user = handle.terminal.add_user(str(body["pin"]), str(body.get("name", "")))
        return JSONResponse(asdict(user))

    async def set_faults(request: Request) -> JSONResponse:
        handle = _terminal(fleet, request.path_params["serial"])
        body = await _json(request)
        known = {f.name for f in fields(Faults)}
        unknown = set(body) - known
        if unknown:
            raise HTTPException(422, f"unknown faults {sorted(unknown)}; known: {sorted(known)}")
        for name, value in body.items():
            setattr(handle.terminal.faults, name, float(value) if name == "reply_delay" else bool(value))
        return JSONResponse(asdict(handle.terminal.faults))

    async def action(request: Request) -> JSONResponse:
        handle = _terminal(fleet, request.path_params["serial"])
        name = request.path_params["action"]
        if name not in ACTIONS:
            raise HTTPException(404, f"unknown action {name!r}; known: {list(ACTIONS)}")
        server = handle.server
        if name == "power_off":
            await server.power_off()
        elif name == "power_on":
            await server.power_on()
        elif name == "power_loss":
            await server.power_off()
            handle.terminal.power_loss()
            await server.power_on()
        elif name == "clear_log":
            return JSONResponse({"cleared": handle.terminal.clear_log()})
        else:
            await server.restart()
        return JSONResponse(handle.terminal.describe())

    async def set_profile(request: Request) -> JSONResponse:
        handle = _terminal(fleet, request.path_params["serial"])
        body = await _json(request)
        if body.get("profile") not in PROFILES:
            raise HTTPException(422, f"unknown profile; known: {sorted(PROFILES)}")
        handle.terminal.set_profile(body["profile"])
        return JSONResponse(handle.terminal.describe())

    async def set_clock(request: Request) -> JSONResponse:
        handle = _terminal(fleet, request.path_params["serial"])
        body = await _json(request)
        if "local_time" in body:
            handle.terminal.clock.set(datetime.fromisoformat(body["local_time"]))
        if "drift_ppm" in body:
            handle.terminal.clock.set_drift(float(body["drift_ppm"]))
        return JSONResponse({"clock": handle.terminal.clock.now().isoformat()})

    async def world(request: Request) -> JSONResponse:
        if request.method == "POST":
            body = await _json(request)
            if "speed" in body:
                fleet.world.set_speed(float(body["speed"]))
            if "jump_seconds" in body:
                fleet.world.jump(timedelta(seconds=float(body["jump_seconds"])))
        stats = asdict(fleet.workforce.stats) if fleet.workforce else None
        return JSONResponse({"now": fleet.world.now().isoformat(), "speed": fleet.world.speed, "workforce": stats})

    async def journal(request: Request) -> JSONResponse:
        if fleet.journal is None:
            raise HTTPException(404, "the simulator keeps no journal (start it with --journal FILE)")
        count = fleet.journal.flush()
        return JSONResponse({"path": str(fleet.journal.path), "count": count})

    async def error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    return Starlette(
        routes=[
            Route("/terminals", list_terminals),
            Route("/terminals/{serial}", show_terminal),
            Route("/terminals/{serial}/punch", punch, methods=["POST"]),
            Route("/terminals/{serial}/users", add_user, methods=["POST"]),
            Route("/terminals/{serial}/faults", set_faults, methods=["POST"]),
            Route("/terminals/{serial}/actions/{action}", action, methods=["POST"]),
            Route("/terminals/{serial}/profile", set_profile, methods=["POST"]),
            Route("/terminals/{serial}/clock", set_clock, methods=["POST"]),
            Route("/world", world, methods=["GET", "POST"]),
            Route("/journal", journal),
        ],
        exception_handlers={HTTPException: error},
    )


def serve_admin(fleet: Fleet, host: str, port: int) -> uvicorn.Server:
    """Start the admin port on the fleet's loop (a non-main thread, so uvicorn leaves signals to the CLI)."""
    config = uvicorn.Config(build_app(fleet), host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    fleet.spawn(server.serve())
    return server

"""`/healthz`, `/readyz` and `/metrics`: for probes and Prometheus, no API key (restrict them at the
proxy if the port is public)."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.responses import JSONResponse, Response

from walletsync.api.deps import MetricsAccess, OptionalAdmin, StateDep
from walletsync.api.errors import error_responses
from walletsync.api.health import readiness, refresh_gauges
from walletsync.api.schemas import CheckOut, HealthOut, ReadyOut

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthOut, responses=error_responses(413, 500), summary="Liveness")
async def healthz() -> HealthOut:
    """The process is up and serving (checks nothing else)."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={
        503: {"model": ReadyOut, "description": "Not ready: a critical check failed (see `checks`)."},
        **error_responses(413, 500),
    },
    summary="Readiness",
)
async def readyz(state: StateDep, admin: OptionalAdmin) -> Response:
    """Database reachable and migrated (critical); Redis, provider breakers and the worker (reported).

    Without an admin key each component says only ok or not: its `detail` (hosts, ports, error text)
    is null. Probes need no key; an unknown key is answered like no key, never with a 401."""
    checks = await readiness(state)
    critical_failed = any(c.critical and not c.ok for c in checks)
    status = "not_ready" if critical_failed else ("degraded" if any(not c.ok for c in checks) else "ready")
    body = ReadyOut(
        status=status,
        checks=[
            CheckOut(name=c.name, ok=c.ok, critical=c.critical, detail=c.detail if admin else None)
            for c in checks
        ],
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if critical_failed else 200)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format.",
        },
        **error_responses(413, 500),
    },
    summary="Prometheus metrics",
)
async def metrics(state: StateDep, _: MetricsAccess) -> Response:
    """Process, HTTP, cache, database pool, queue depth and sync lag metrics. Needs a key (read scope
    or better) unless `WALLETSYNC_METRICS_PUBLIC=true`."""
    await refresh_gauges(state)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

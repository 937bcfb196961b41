"""FastAPI router for liveness and readiness: the only module that imports FastAPI.

    app.include_router(health_router(readiness))   # GET /api/health, GET /api/health/ready

FastAPI is an optional extra (`pip install elb-upgrade[fastapi]`); nothing else in
`elb_upgrade.health` imports it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from elb_upgrade.health.readiness import Readiness

DetailsPolicy = bool | Callable[[Request], bool]
NO_STORE = {"Cache-Control": "no-store"}  # a proxy must never answer readiness from cache


def health_router(
    readiness: Readiness, *, prefix: str = "/api", details: DetailsPolicy = True
) -> APIRouter:
    """`GET {prefix}/health` (liveness) and `GET {prefix}/health/ready` (readiness).

    `details` says who sees component details: `True` (everyone), `False` (no one), or a
    predicate on the request, e.g. `header_token("X-Health-Token", secret)`. Callers not
    shown details get each component's status only; the status code is the same.
    """
    router = APIRouter(prefix=prefix, tags=["health"])

    @router.get("/health")
    async def live() -> JSONResponse:
        return JSONResponse(readiness.liveness(), headers=NO_STORE)

    @router.get("/health/ready")
    async def ready(request: Request) -> JSONResponse:
        show = details(request) if callable(details) else details
        report = await readiness.check(details=show)
        headers = dict(NO_STORE)
        if not report.ready:
            headers["Retry-After"] = str(readiness.retry_after_seconds)
        return JSONResponse(report.body, status_code=report.status_code, headers=headers)

    return router


def header_token(header: str, token: str) -> Callable[[Request], bool]:
    """A `details` predicate: true when the request carries `header: token`."""

    def allowed(request: Request) -> bool:
        given = request.headers.get(header, "")
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())

    return allowed

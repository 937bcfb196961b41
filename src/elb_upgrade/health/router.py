"""FastAPI router for liveness and readiness: the only module that imports FastAPI.

    app.include_router(health_router(readiness))   # GET /api/health, GET /api/health/ready

FastAPI is an optional extra (`pip install elb-upgrade[fastapi]`); nothing else in
`elb_upgrade.health` imports it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from elb_upgrade.health.readiness import Readiness

DetailsPolicy = bool | Callable[[Request], bool]
NO_STORE = {"Cache-Control": "no-store"}  # a proxy must never answer readiness from cache
STRICT_ENV = "STRICT_READINESS_DETAIL"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def health_router(
    readiness: Readiness, *, prefix: str = "/api", details: DetailsPolicy = True
) -> APIRouter:
    """`GET {prefix}/health` (liveness) and `GET {prefix}/health/ready` (readiness).

    `details` says who sees component details: `True` (everyone), `False` (no one), or a
    predicate on the request, e.g. `header_token("X-Health-Token", secret)`. Callers not
    shown details get each component's status only; the status code is the same.

    `STRICT_READINESS_DETAIL=true` (read once, here) makes every caller the app's `details`
    does not single out anonymous: `True` becomes `False`; a predicate still shows details
    to the callers it accepts.
    """
    details = strict_details(details, os.environ.get(STRICT_ENV, ""))
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


def strict_details(details: DetailsPolicy, value: str) -> DetailsPolicy:
    """Apply `STRICT_READINESS_DETAIL=value` to the app's `details` policy."""
    word = value.strip().lower()
    if word in _FALSE:
        return details
    if word not in _TRUE:
        raise ValueError(
            f"{STRICT_ENV}={value[:40]!r} is not true or false: set it to true (hide "
            "component details from anonymous callers) or false, or unset it"
        )
    return False if details is True else details


def header_token(header: str, token: str) -> Callable[[Request], bool]:
    """A `details` predicate: true when the request carries `header: token`."""

    def allowed(request: Request) -> bool:
        given = request.headers.get(header, "")
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())

    return allowed

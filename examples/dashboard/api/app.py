"""The dashboard api: liveness and deep readiness from elb_upgrade.health, plus a job queue."""

import asyncio
from collections.abc import AsyncIterator

import redis
import settings
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from version import VERSION

from elb_upgrade.health import (
    Readiness,
    azure_storage_probe,
    health_router,
    http_probe,
    redis_probe,
)

readiness = Readiness(
    version=VERSION,
    probes=[
        redis_probe(settings.REDIS_URL),
        azure_storage_probe(settings.TABLE_ENDPOINT, credential=settings.storage_credential()),
        http_probe("terminal", settings.TERMINAL_HEALTH_URL),
    ],
)

app = FastAPI(title="elb dashboard", version=VERSION)
app.include_router(health_router(readiness))


@app.post("/api/jobs")
def enqueue(text: str = "hello") -> dict[str, str]:
    """Hand a job to the worker container (elb-dashboard's Celery shape, without Celery)."""
    redis.Redis.from_url(settings.REDIS_URL).rpush(settings.QUEUE, text)
    return {"queued": text}


@app.get("/api/stream")
async def stream(seconds: float = 5.0, every: float = 0.1) -> StreamingResponse:
    """One line `<revision> <n>` every `every` s for `seconds` s: a long-lived response."""
    count = max(1, int(min(seconds, 3600) / max(every, 0.01)))

    async def lines() -> AsyncIterator[str]:
        for n in range(count):
            yield f"{readiness.revision} {n}\n"
            await asyncio.sleep(every)
        yield "end\n"

    return StreamingResponse(lines(), media_type="text/plain")

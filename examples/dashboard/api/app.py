"""The dashboard api: liveness and deep readiness from elb_upgrade.health, plus a job queue."""

import redis
import settings
from fastapi import FastAPI
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
    """Hand a job to the worker container (the seed's Celery shape, without Celery)."""
    redis.Redis.from_url(settings.REDIS_URL).rpush(settings.QUEUE, text)
    return {"queued": text}

"""The worker container: runs the api image, takes jobs from a Redis list and logs them."""

import os
import signal
import sys

import redis
import settings


def main() -> None:
    # SIGTERM from `docker stop` ends the blocking pop at once instead of after its timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    client = redis.Redis.from_url(settings.REDIS_URL)
    revision = os.environ.get("CONTAINER_APP_REVISION", "local")
    print(f"worker {revision} waiting on {settings.QUEUE}", flush=True)
    while True:
        item = client.blpop([settings.QUEUE], timeout=5)
        if item:
            print(f"job: {item[1].decode(errors='replace')}", flush=True)


if __name__ == "__main__":
    main()

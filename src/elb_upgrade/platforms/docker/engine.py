"""The engine connection and the one place docker SDK exceptions become ours.

    with translated("replacing api"):       # docker.errors.* → elb_upgrade.errors.*
        client.containers.run(...)

The SDK raises `requests` exceptions (not its own) when the socket goes away mid-call,
so both families are translated here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from elb_upgrade.errors import (
    ConflictError,
    ImageMissingError,
    PlatformError,
    PlatformUnavailable,
)

START_ENGINE = (
    "start it: sudo scripts/setup.sh "
    "(or by hand: dockerd --bridge=none --iptables=false --ip-masq=false &)"
)


def connect(settings: Mapping[str, str]) -> Any:
    """A docker client for the engine `DOCKER_HOST` (in settings or env) names."""
    with translated("connecting to the Docker Engine"):
        import docker  # lazy: the SDK costs ~0.3 s to import

        return docker.from_env(environment=dict(settings), timeout=120)


@contextlib.contextmanager
def translated(doing: str) -> Iterator[None]:
    """Re-raise docker and connection errors met while `doing` as package errors."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageMissingError(
            f"{doing}: image not found ({_explain(exc)})",
            hint="build it again (elb-upgrade <scope>) or check the name with `docker images`",
        ) from exc
    except docker.errors.APIError as exc:
        raise _api_error(doing, exc) from exc
    except (docker.errors.DockerException, requests.exceptions.ConnectionError) as exc:
        raise PlatformUnavailable(
            f"{doing}: the Docker Engine is not reachable ({_explain(exc)})", hint=START_ENGINE
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise PlatformError(
            f"{doing}: the Docker Engine did not answer ({_explain(exc)})",
            hint="check the engine's load and log, then rerun",
        ) from exc


def _api_error(doing: str, exc: Any) -> PlatformError:
    text = _explain(exc)
    if "address already in use" in text or "port is already allocated" in text:
        return PlatformError(
            f"{doing}: a port is in use ({text})",
            hint="stop what listens on it (ss -ltnp) or choose other ports in .env",
        )
    if exc.status_code == 409:
        return ConflictError(
            f"{doing}: conflict ({text})",
            hint="another container holds the name: `docker rm -f <name>` if it is stale",
        )
    return PlatformError(
        f"{doing}: the Docker Engine refused ({text})",
        hint="read the message; `docker info` shows the engine's state",
    )


def _explain(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)[:300]

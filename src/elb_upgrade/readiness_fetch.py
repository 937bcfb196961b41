"""The real readiness `Fetch`: HTTP GETs over httpx, each bounded as a whole.

httpx is imported and the client made on the first fetch: a run that stops before the
gate (lock held, preflight failed) never pays for it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from elb_upgrade.readiness_body import READ_CAP, Fetch, Reply

FETCH_GRACE = 0.25  # past a request's own timeout before it is given up on


def http_fetch() -> tuple[Fetch, Callable[[], None]]:
    """A fetch over one httpx client, and its closer.

    httpx is imported and the client made on the first fetch: a run that stops before
    the gate (lock held, preflight failed) never pays for it. httpx's timeout bounds each
    read, not the whole request: a server that trickles its headers a byte at a time
    would hold the gate for hours. So each request runs in a daemon thread that is given
    up on at its deadline; a new client (new connections) serves the next poll, and the
    stuck thread ends with the server or with the process.
    """
    clients: list[Any] = []

    def client() -> Any:
        from elb_upgrade import signals

        with signals.postponed():  # Ctrl+C mid-import could leave the run hung
            import httpx

        if not clients:
            clients.append(
                httpx.Client(
                    verify=_tls_context(),
                    follow_redirects=False,
                    headers={"accept": "application/json"},
                )
            )
        return clients[0]

    def fetch(url: str, timeout: float) -> Reply:
        answer: list[Reply] = []
        used = client()
        worker = threading.Thread(
            target=lambda: answer.append(_get(used, url, timeout)),
            name="elb-upgrade-readiness",
            daemon=True,
        )
        worker.start()
        worker.join(timeout + FETCH_GRACE)
        if answer:
            return answer[0]
        clients.clear()  # never reuse a client with a stuck connection
        return Reply(None, b"", f"no complete answer within {timeout:g}s")

    def close() -> None:
        for live in clients:
            live.close()

    return fetch, close


@functools.cache
def _tls_context() -> Any:
    """httpx's default TLS context (its CA bundle, or $SSL_CERT_FILE / $SSL_CERT_DIR), made
    once per process: loading the bundle costs about 35 ms of CPU, and every client made
    after a stuck request would load it again."""
    import httpx

    return httpx.create_ssl_context()


def _get(client: Any, url: str, timeout: float) -> Reply:
    import httpx

    try:
        return _read_capped(client, url, timeout)
    except httpx.HTTPError as exc:
        return Reply(None, b"", f"{type(exc).__name__}: {exc}"[:200])
    except Exception as exc:  # a malformed URL or answer is a failed poll, not a crash
        return Reply(None, b"", f"{type(exc).__name__}: {exc}"[:200])


def _read_capped(client: Any, url: str, timeout: float) -> Reply:
    """GET `url`, reading at most a few body caps, within `timeout` overall."""
    deadline = time.monotonic() + timeout
    body = b""
    with client.stream("GET", url, timeout=timeout) as response:
        for chunk in response.iter_bytes():
            body += chunk
            # A huge or trickling body must not stretch the gate past its budget.
            if len(body) > READ_CAP or time.monotonic() > deadline:
                break
        return Reply(response.status_code, body[:READ_CAP])

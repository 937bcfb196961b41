"""The real readiness fetch (readiness_fetch.py) against a real local server."""

from __future__ import annotations

import ssl

from elb_upgrade import readiness_fetch
from fakes.readiness import ReadinessServer


def test_every_client_of_a_process_verifies_tls_with_one_context() -> None:
    context = readiness_fetch._tls_context()
    assert context is readiness_fetch._tls_context()  # the CA bundle is loaded once
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_two_fetchers_get_their_answers_over_their_own_clients() -> None:
    server = ReadinessServer()
    server.set(200, {"revision": "demo--2"})
    replies = []
    try:
        for _ in range(2):
            fetch, close = readiness_fetch.http_fetch()
            replies.append(fetch(server.url, 5))
            close()
    finally:
        server.close()
    assert [(r.status, r.body) for r in replies] == [(200, b'{"revision": "demo--2"}')] * 2
    assert server.hits == 2

"""The one readiness server of the tests: a local HTTP `/api/health/ready` endpoint.

It answers with `answer()` (a callable giving status and JSON body: the fake platform's
state, say) until a test fixes the answer with `set(status, body)`. It serves from its
own thread as soon as it is made; `close()` stops it. `hits` counts the requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[], tuple[int, dict[str, Any]]]


class ReadinessServer:
    def __init__(self, answer: Answer | None = None) -> None:
        self.answer: Answer = answer or (lambda: (200, {}))
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                status, body = server.answer()
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/health/ready"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def set(self, status: int, body: dict[str, Any]) -> None:
        """From now on answer `status` with `body`, whatever `answer` would say."""
        self.answer = lambda: (status, body)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

"""The terminal sidecar: a stand-in for elb-dashboard's web terminal, with its own health URL.

GET /health answers {"status": "ok"}: the api's readiness probes it (non-critical, so a
down terminal degrades the dashboard without taking it out of service).
"""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
REVISION = os.environ.get("CONTAINER_APP_REVISION", "local")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            body = {"status": "ok", "revision": REVISION, "uptime_s": int(time.time() - STARTED)}
            self._send(200, json.dumps(body))
        else:
            self._send(404, json.dumps({"error": "not found"}))

    def _send(self, code: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the api probes this every few seconds


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8090"))
    print(f"terminal {REVISION} on 127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

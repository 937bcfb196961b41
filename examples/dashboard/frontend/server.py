"""The dashboard page: the api's version, revision and readiness components.

The page is rendered on the server from one GET of the api's readiness endpoint, so
`curl` shows the same as a browser and the page needs no JavaScript or CORS.
"""

import html
import json
import os
import string
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

API_URL = os.environ.get("API_URL", "http://127.0.0.1:8000")
PAGE = string.Template((Path(__file__).parent / "page.html").read_text(encoding="utf-8"))
REVISION = os.environ.get("CONTAINER_APP_REVISION", "local")


def readiness() -> dict:
    """The api's readiness body; a 503 still carries one, an unreachable api does not."""
    try:
        with urllib.request.urlopen(f"{API_URL}/api/health/ready", timeout=5) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")
    except (OSError, ValueError) as exc:
        return {
            "status": "api unreachable",
            "components": {"api": {"status": "down", "error": str(exc)}},
        }


def render(body: dict) -> str:
    rows = "\n".join(_row(name, c) for name, c in sorted(body.get("components", {}).items()))
    status = str(body.get("status", "unknown"))
    return PAGE.substitute(
        version=html.escape(str(body.get("version", "?"))),
        revision=html.escape(str(body.get("revision", "?"))),
        status=html.escape(status),
        status_class="ok" if status == "ready" else "down",
        rows=rows,
        frontend_revision=html.escape(REVISION),
    )


def _row(name: str, component: dict) -> str:
    state = str(component.get("status", "?"))
    detail = component.get("error_class") or component.get("reason") or ""
    if component.get("error"):
        detail = f"{detail}: {component['error']}" if detail else component["error"]
    cells = (
        html.escape(name),
        f'<span class="{html.escape(state)}">{html.escape(state)}</span>',
        html.escape(str(detail)),
    )
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, "application/json", json.dumps({"status": "ok"}))
        elif self.path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", render(readiness()))
        else:
            self._send(404, "text/plain", "not found")

    def _send(self, code: int, kind: str, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the page refreshes every 5 s


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"frontend {REVISION} on 127.0.0.1:{port}, api {API_URL}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

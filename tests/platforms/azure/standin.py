"""The HTTPS half of the Azure stand-in: a TLS server thread, recording, faults, chaos,
fixtures.

azure-core refuses bearer tokens over plain HTTP, so the server speaks TLS with a test CA
made at set-up (trustme); clients get that CA's file. What it answers is decided by a
subclass's `route()` (see `fakeazure.py`).

Chaos is on by default: a seeded random share of Resource Manager GETs (and the app's
PATCH) is answered 429 (with `Retry-After`), 500 or 503 first, the way a busy region
answers; the same request is never hit twice in a row, so the SDK's own retry (or
elb-upgrade's, for the PATCH) gets through. `ELB_AZURE_CHAOS_SEED=<n>` picks the random seed
(default 0), `ELB_AZURE_CHAOS=0` turns chaos off for a whole run, `azure.chaos.off()`
for one test (one that counts requests). Chaos answers are kept in `chaos.hits`, not in
`requests`.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trustme

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUB = "6b1f7a8e-3c2d-4e5f-9a0b-1c2d3e4f5a6b"
RG = "rg-elb-prod"
REGISTRY_RG = "rg-elb-shared"  # the registry lives outside the app's group
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP = "ca-elb-dashboard"
REGISTRY = "crelbdash"
ACCOUNT = "stelbdash"
BLOBACCOUNT = "crelbdashsrc"
OLD_TAG = "20260501090000-1a2b3c4"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list → JSON, bytes → as is, None → empty
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    reply: Reply
    times: int


class Chaos:
    """Seeded random throttling and server errors, and whether lists come in pages."""

    RATE = 0.12

    def __init__(self) -> None:
        self.seed = int(os.environ.get("ELB_AZURE_CHAOS_SEED", "0"))
        self.on = os.environ.get("ELB_AZURE_CHAOS", "1") != "0"
        self.random = random.Random(self.seed)
        self.hits: list[tuple[Request, int]] = []
        self._last: tuple[str, str, bytes] | None = None

    def off(self) -> None:
        self.on = False

    def chance(self, rate: float | None = None) -> bool:
        return self.on and self.random.random() < (self.RATE if rate is None else rate)

    def strike(self, request: Request) -> Reply | None:
        """A 429 / 500 / 503 for this request, or None to let it through."""
        key = (request.method, request.path, request.body)
        arm = request.path.startswith(("/subscriptions/", "/providers/")) and not (
            request.path.endswith("/logstream")
        )
        allowed = request.method == "GET" or (
            request.method == "PATCH" and "/containerApps/" in request.path
        )
        if key == self._last:  # its retry goes through
            self._last = None
            return None
        if not (arm and allowed) or not self.chance():
            return None
        self._last = key
        status = self.random.choice((429, 500, 503) if request.method == "GET" else (429,))
        self.hits.append((request, status))
        code = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
        body = {"error": {"code": code[status], "message": "chaos from the stand-in"}}
        return Reply(status, body, {"retry-after": "0"} if status == 429 else {})


class HttpsStandIn:
    """A TLS server whose answers come from `route()`; every request is recorded."""

    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        self.ca_path = tmp / "standin-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.chaos = Chaos()
        self.lock = threading.RLock()
        self._server = self._start()
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"https://{self.host}"

    # -- the server -----------------------------------------------------------------
    def _start(self) -> ThreadingHTTPServer:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                reply = standin.dispatch(request)
                payload = (
                    reply.body
                    if isinstance(reply.body, bytes)
                    else (b"" if reply.body is None else json.dumps(reply.body).encode())
                )
                self.send_response(reply.status)
                headers = {"content-type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if "content-length" not in {k.lower() for k in headers}:
                    self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_PATCH = do_HEAD = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dispatch(self, request: Request) -> Reply:
        with self.lock:
            struck = self.chaos.strike(request)
            if struck is not None:
                return struck
            self.requests.append(request)
            for fault in self.faults:
                if (
                    fault.times
                    and fault.method == request.method
                    and fault.pattern.search(request.path)
                ):
                    fault.times -= 1
                    return fault.reply
            return self.route(request)

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    # -- helpers for tests ----------------------------------------------------------
    def fixture(self, name: str, **values: str) -> Any:
        text = (FIXTURES / name).read_text()
        defaults = {
            "HOST": self.host,
            "SUB": SUB,
            "RG": RG,
            "APP": APP,
            "ACR": self.host,
            "REGISTRY": REGISTRY,
            "REGISTRY_RG": REGISTRY_RG,
            "ACCOUNT": ACCOUNT,
            "BLOBACCOUNT": BLOBACCOUNT,
        }
        for key, value in {**defaults, **values}.items():
            text = text.replace("{{" + key + "}}", json.dumps(value)[1:-1])  # in a string
        return json.loads(text)

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests matching `path` (a regex) with `status`."""
        self.faults.append(
            Fault(method, re.compile(path, re.I), Reply(status, body, headers or {}), times)
        )

    def forbid(self, method: str, path: str, action: str, scope: str) -> None:
        self.fail(method, path, 403, self.fixture("error_403.json", ACTION=action, SCOPE=scope))

    def made(self, method: str, pattern: str = "") -> list[Request]:
        found = re.compile(pattern, re.I)
        return [r for r in self.requests if r.method == method and found.search(r.path)]

    def image(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"


def claims(token: str) -> dict[str, Any] | None:
    """The payload of a token `jwt()` made (or None: not one of ours)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        data: dict[str, Any] = json.loads(base64.b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return data


def jwt(payload: dict[str, Any]) -> str:
    """A JWT-shaped token whose payload decodes with plain base64 (the ACR client's way)."""
    body = json.dumps(payload)
    while len(body) % 3:  # no '=' padding and no URL-safe characters to trip the decoder
        body += " "
    encoded = base64.b64encode(body.encode()).decode()
    return f"eyJhbGciOiJub25lIn0.{encoded}.c2ln"

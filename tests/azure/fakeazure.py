"""One fake Azure subscription behind the HTTPS stand-in: what each path answers.

Served: the Container App (GET with an ETag, PATCH honouring If-Match and answering 202
+ Azure-AsyncOperation), its operation status, revisions, replicas, getAuthtoken and the
console log stream; storage accounts and their private endpoint connections; the
registry, listBuildSourceUploadUrl, scheduleRun, runs and listLogSasUrl; the blob SAS URLs
(build-source PUT, run-log HEAD/ranged GET, growing a chunk per look and marked
`Complete` at the end); the registry's data plane (`/acr/v1/<repo>/_tags/<tag>` behind the
401 challenge → /oauth2/exchange → /oauth2/token dance).

Revision outcomes follow markers in image references: `crashloop` restarts forever,
`missing` cannot be pulled, `badprov` fails to provision, `notready` runs but its
readiness answers 503.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standin import (
    ACCOUNT,
    APP,
    BLOBACCOUNT,
    OLD_TAG,
    RG,
    SUB,
    HttpsStandIn,
    Reply,
    Request,
    jwt,
)

ARM = rf"/subscriptions/{SUB}/resourceGroups/{RG}/providers"
ACR_TOKEN = "acr-access-token"
LOG_TOKEN = "log-stream-token-7f3a"
Route = Callable[[Request, "re.Match[str]"], Reply]


@dataclass
class Run:
    status: str
    chunks: list[bytes]
    log: str = ""  # blob path of its log
    request: dict[str, Any] = field(default_factory=dict)


class FakeAzure(HttpsStandIn):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.app = self.fixture("container_app.json")
        self.etag_n = 1
        self.revisions: dict[str, dict[str, Any]] = {}
        self.provisioning_left: dict[str, int] = {}
        self.provision_polls = 1  # "Provisioning" answers before a revision settles
        self.async_polls = 1  # "InProgress" answers before an update's operation ends
        self.operation_outcome = "Succeeded"
        self.operations: dict[str, int] = {}
        self.tags = {f"elb-dashboard-api:{OLD_TAG}", f"elb-dashboard-frontend:{OLD_TAG}"}
        self.account = self.fixture("storage_account.json")
        self.connections = self.fixture("private_endpoint_connections.json")["value"]
        self.blobs: dict[str, bytes] = {}
        self.blob_meta: dict[str, dict[str, str]] = {}
        self.runs: dict[str, Run] = {}
        self.build_status = "Succeeded"
        self.build_log = [
            "Step 1/3 : FROM base",
            "Step 2/3 : COPY . /app",
            'Step 3/3 : CMD ["python3"]',
            "Successfully built 4b1d7e3a",
        ]
        self.console_log = [
            "INFO:     Started server process [1]",
            "INFO:     Application startup complete.",
        ]
        self._add_revision(self.app["properties"]["latestRevisionName"])
        self.routes: list[tuple[str, re.Pattern[str], Route]] = [
            (m, re.compile(p, re.I), f) for m, p, f in self._table()
        ]

    def _table(self) -> list[tuple[str, str, Route]]:
        app, reg = (
            ARM + r"/Microsoft\.App/containerApps/[^/]+",
            ARM + r"/Microsoft\.ContainerRegistry/registries/[^/]+",
        )
        stg = ARM + r"/Microsoft\.Storage/storageAccounts"
        return [
            ("GET", app + "$", self.get_app),
            ("PATCH", app + "$", self.patch_app),
            (
                "GET",
                r"/providers/Microsoft\.App/locations/[^/]+/containerappOperationResults/"
                r"(?P<op>[^/]+)$",
                self.get_operation,
            ),
            ("GET", app + "/revisions$", self.list_revisions),
            ("GET", app + "/revisions/(?P<rev>[^/]+)$", self.get_revision),
            ("GET", app + "/revisions/(?P<rev>[^/]+)/replicas$", self.get_replicas),
            ("POST", app + "/getAuthtoken$", self.auth_token),
            (
                "GET",
                rf"^/subscriptions/{SUB}/resourceGroups/{RG}/containerApps/[^/]+/revisions/"
                r"(?P<rev>[^/]+)/replicas/[^/]+/containers/(?P<c>[^/]+)/logstream$",
                self.logstream,
            ),
            ("GET", stg + "$", self.list_accounts),
            ("GET", stg + "/(?P<name>[^/]+)$", self.get_account),
            ("GET", stg + "/[^/]+/privateEndpointConnections$", self.list_connections),
            ("GET", reg + "$", lambda r, m: Reply(200, self.fixture("registry.json"))),
            ("POST", reg + "/listBuildSourceUploadUrl$", self.upload_url),
            ("POST", reg + "/scheduleRun$", self.schedule_run),
            ("GET", reg + "/runs/(?P<run>[^/]+)$", self.get_run),
            ("POST", reg + "/runs/(?P<run>[^/]+)/listLogSasUrl$", self.log_url),
            ("PUT", rf"^/{BLOBACCOUNT}/(?P<blob>.+)$", self.put_blob),
            ("HEAD", rf"^/{BLOBACCOUNT}/(?P<blob>.+)$", self.head_blob),
            ("GET", rf"^/{BLOBACCOUNT}/(?P<blob>.+)$", self.get_blob),
            (
                "POST",
                r"^/oauth2/exchange$",
                lambda r, m: Reply(200, {"refresh_token": jwt({"exp": time.time() + 3600})}),
            ),
            ("POST", r"^/oauth2/token$", lambda r, m: Reply(200, {"access_token": ACR_TOKEN})),
            ("GET", r"^/acr/v1/(?P<repo>.+)/_tags/(?P<tag>[^/]+)$", self.acr_tag),
        ]

    def route(self, request: Request) -> Reply:
        for method, pattern, handler in self.routes:
            match = pattern.search(request.path)
            if match and method == request.method:
                if request.path.startswith("/subscriptions/") and not request.headers.get(
                    "authorization", ""
                ).startswith("Bearer "):
                    return Reply(
                        401,
                        {"error": {"code": "AuthenticationFailed", "message": "no bearer token"}},
                    )
                return handler(request, match)
        return Reply(404, {"error": {"code": "NoRoute", "message": request.path}})

    # -- Container App ---------------------------------------------------------------
    @property
    def etag(self) -> str:
        return f'"0d00{self.etag_n:04d}-0000-0100-0000-6650a1b20000"'

    def images(self) -> dict[str, str]:
        template = self.app["properties"]["template"]
        return {
            c["name"]: c["image"]
            for kind in ("containers", "initContainers")
            for c in template.get(kind) or []
        }

    def get_app(self, request: Request, match: re.Match[str]) -> Reply:
        if request.path.rsplit("/", 1)[1].lower() != APP.lower():
            return Reply(404, self.fixture("error_404.json", RESOURCE=request.path))
        return Reply(200, self.app, {"etag": self.etag})

    def patch_app(self, request: Request, match: re.Match[str]) -> Reply:
        expected = request.headers.get("if-match")
        if expected is not None and expected != self.etag:
            return Reply(412, self.fixture("error_412.json", ETAG=expected))
        template = request.json()["properties"]["template"]
        # JSON merge patch: a missing revisionSuffix keeps the current one, which is taken
        suffix = template.pop(
            "revisionSuffix", self.app["properties"]["template"].get("revisionSuffix")
        )
        if suffix and f"{APP}--{suffix}" in self.revisions:
            return Reply(
                400,
                {
                    "error": {
                        "code": "ContainerAppRevisionSuffixConflict",
                        "message": f"revision {APP}--{suffix} exists",
                    }
                },
            )
        self.app["properties"]["template"] = template
        name = f"{APP}--r{len(self.revisions) + 1:05d}"
        self._add_revision(name)
        self.app["properties"].update(latestRevisionName=name, provisioningState="InProgress")
        self.etag_n += 1
        op = f"62e4d893-d233-4005-988e-{len(self.operations):012d}"
        self.operations[op] = self.async_polls
        location = (
            f"{self.url}/subscriptions/{SUB}/providers/Microsoft.App/locations/eastus/"
            f"containerappOperationResults/{op}?api-version=2026-01-01"
        )
        return Reply(202, None, {"azure-asyncoperation": location})

    def get_operation(self, request: Request, match: re.Match[str]) -> Reply:
        op = match["op"]
        self.operations[op] -= 1
        status = "InProgress" if self.operations[op] >= 0 else self.operation_outcome
        if status != "InProgress":
            self.app["properties"]["provisioningState"] = status
        body = self.fixture("operation_status.json", OPERATION=op, STATUS=status)
        if status == "Failed":
            body["error"] = {
                "code": "ContainerAppOperationError",
                "message": "Failed to provision revision for container app.",
            }
        return Reply(200, body)

    # -- revisions, replicas, logs ---------------------------------------------------
    def _add_revision(self, name: str) -> None:
        revision = self.fixture(
            "revision.json", REVISION=name, CREATED=_created(len(self.revisions))
        )
        revision["properties"]["template"] = copy.deepcopy(self.app["properties"]["template"])
        marks = " ".join(self.images().values())
        if "badprov" in marks:
            revision["properties"].update(
                provisioningState="Failed",
                runningState="Failed",
                provisioningError="Container 'api' was terminated "
                "with exit code '1' during startup",
            )
        elif "missing" in marks:
            revision["properties"].update(runningState="Failed", healthState="Unhealthy")
        self.revisions[name] = revision
        self.provisioning_left[name] = self.provision_polls

    def serving(self) -> str:
        """The revision the app FQDN routes to: the newest one that is healthy."""
        healthy = [
            n
            for n, r in self.revisions.items()
            if not re.search(r"crashloop|missing|badprov", json_images(r))
        ]
        return healthy[-1] if healthy else ""

    def list_revisions(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, {"value": list(self.revisions.values()), "nextLink": None})

    def get_revision(self, request: Request, match: re.Match[str]) -> Reply:
        revision = self.revisions.get(match["rev"])
        if revision is None:
            return Reply(404, self.fixture("error_404.json", RESOURCE=match["rev"]))
        if self.provisioning_left[match["rev"]] > 0:
            self.provisioning_left[match["rev"]] -= 1
            shown = copy.deepcopy(revision)
            shown["properties"].update(provisioningState="Provisioning", runningState="Processing")
            return Reply(200, shown)
        return Reply(200, revision)

    def get_replicas(self, request: Request, match: re.Match[str]) -> Reply:
        revision = self.revisions[match["rev"]]
        body = self.fixture("replicas.json", REVISION=match["rev"], CREATED=_created(0))
        marks = json_images(revision)
        body["value"][0]["properties"]["containers"] = [
            _container(c["name"], marks) for c in revision["properties"]["template"]["containers"]
        ]
        return Reply(200, body)

    def auth_token(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, self.fixture("auth_token.json"))

    def logstream(self, request: Request, match: re.Match[str]) -> Reply:
        if request.headers.get("authorization") != f"Bearer {LOG_TOKEN}":
            return Reply(401, b"unauthorized", {"content-type": "text/plain"})
        text = "".join(f"{match['c']}: {line}\n" for line in self.console_log)
        return Reply(200, text.encode(), {"content-type": "text/plain; charset=utf-8"})

    # -- storage -----------------------------------------------------------------------
    def list_accounts(self, request: Request, match: re.Match[str]) -> Reply:
        other = self.fixture("storage_account.json", ACCOUNT="logselbdash")
        return Reply(200, {"value": [other, self.account]})

    def get_account(self, request: Request, match: re.Match[str]) -> Reply:
        if match["name"] != ACCOUNT:
            return Reply(404, self.fixture("error_404.json", RESOURCE=match["name"]))
        return Reply(200, self.account)

    def list_connections(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, {"value": self.connections})

    # -- ACR: builds ---------------------------------------------------------------------
    def upload_url(self, request: Request, match: re.Match[str]) -> Reply:
        upload = f"b52f12d8-c3d6-4d75-9107-{len(self.blobs):012d}"
        return Reply(200, self.fixture("build_source_upload_url.json", UPLOAD=upload))

    def schedule_run(self, request: Request, match: re.Match[str]) -> Reply:
        run_id = f"cb{len(self.runs) + 1}"
        lines = [*self.build_log, f"Run ID: {run_id} was {self.build_status.lower()}"]
        chunks = [("\n".join(lines[i : i + 2]) + "\n").encode() for i in range(0, len(lines), 2)]
        log = f"runlogs/logs/{run_id}/rawtext.log"
        self.runs[run_id] = Run("Running", chunks, log, request.json())
        self.blobs[log], self.blob_meta[log] = b"", {}
        return Reply(200, self.fixture("run.json", RUN=run_id, STATUS="Queued"))

    def get_run(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(
            200, self.fixture("run.json", RUN=match["run"], STATUS=self.runs[match["run"]].status)
        )

    def log_url(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, self.fixture("log_sas_url.json", RUN=match["run"]))

    def _grow(self, blob: str) -> None:
        """A run's log gains one chunk per look; the last look marks it Complete."""
        run = next((r for r in self.runs.values() if r.log == blob), None)
        if run is None or run.status != "Running":
            return
        if run.chunks:
            self.blobs[blob] += run.chunks.pop(0)
            return
        run.status = self.build_status
        self.blob_meta[blob] = {"Complete": "successful"}
        if run.status == "Succeeded":
            self.tags.update(run.request["imageNames"])

    def put_blob(self, request: Request, match: re.Match[str]) -> Reply:
        self.blobs[match["blob"]] = request.body
        headers = _blob_headers(0)  # the reply has no body, whatever the blob's size
        headers["content-md5"] = base64.b64encode(hashlib.md5(request.body).digest()).decode()
        return Reply(201, None, headers)

    def head_blob(self, request: Request, match: re.Match[str]) -> Reply:
        blob = match["blob"]
        if blob not in self.blobs:
            return Reply(404, None, {"x-ms-error-code": "BlobNotFound"})
        self._grow(blob)
        headers = _blob_headers(len(self.blobs[blob]))
        headers.update({f"x-ms-meta-{k}": v for k, v in self.blob_meta[blob].items()})
        return Reply(200, None, headers)

    def get_blob(self, request: Request, match: re.Match[str]) -> Reply:
        data = self.blobs[match["blob"]]
        first, last = (int(x) for x in re.findall(r"\d+", request.headers["x-ms-range"]))
        part = data[first : last + 1]
        headers = _blob_headers(len(part))
        headers["content-range"] = f"bytes {first}-{first + len(part) - 1}/{len(data)}"
        return Reply(206, part, {**headers, "content-type": "application/octet-stream"})

    # -- ACR: data plane -----------------------------------------------------------------
    def acr_tag(self, request: Request, match: re.Match[str]) -> Reply:
        if request.headers.get("authorization") != f"Bearer {ACR_TOKEN}":
            challenge = (
                f'Bearer realm="{self.url}/oauth2/token",service="{self.host}",'
                f'scope="repository:{match["repo"]}:metadata_read"'
            )
            return Reply(
                401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"www-authenticate": challenge}
            )
        if f"{match['repo']}:{match['tag']}" not in self.tags:
            return Reply(
                404,
                {
                    "errors": [
                        {"code": "TAG_UNKNOWN", "message": "the specified tag does not exist"}
                    ]
                },
            )
        return Reply(200, self.fixture("tag.json", REPOSITORY=match["repo"], TAG=match["tag"]))


def json_images(revision: dict[str, Any]) -> str:
    template = revision["properties"]["template"]
    return " ".join(c["image"] for c in template.get("containers") or [])


def _container(name: str, marks: str) -> dict[str, Any]:
    state = {
        "name": name,
        "containerId": f"containerd://{name}",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "runningState": "Running",
        "runningStateDetails": "",
        "logStreamEndpoint": "",
    }
    if "crashloop" in marks:
        state.update(
            ready=False,
            restartCount=5,
            runningState="Waiting",
            runningStateDetails="CrashLoopBackOff: back-off 40s restarting failed container",
        )
    elif "missing" in marks:
        state.update(
            ready=False,
            started=False,
            runningState="Waiting",
            runningStateDetails="ImagePullBackOff: manifest unknown",
        )
    return state


def _created(n: int) -> str:
    return f"2026-05-23T03:{20 + n:02d}:00+00:00"


def _blob_headers(length: int) -> dict[str, str]:
    return {
        "content-length": str(length),
        "etag": '"0x8DC7B1A2B3C4D5E"',
        "last-modified": "Sat, 23 May 2026 03:23:00 GMT",
        "x-ms-blob-type": "AppendBlob",
        "x-ms-version": "2025-01-05",
        "x-ms-request-server-encrypted": "true",
        "accept-ranges": "bytes",
        "content-type": "application/octet-stream",
    }

"""One fake Azure subscription behind the HTTPS stand-in: what each path answers.

Strict where Azure is known to be strict (tests/platforms/azure/README.md has the evidence and the
open questions): only the api-versions the pinned SDKs send; bearer tokens must be for
Resource Manager and unexpired; the registry's tokens carry the repository scope asked
for; an update body is validated (unique container names, valid image references,
allowed cpu/memory, at least one container) and refused with 409 while another operation
holds the app; blob uploads need a BlockBlob type and an unexpired write SAS. No ETag is
sent and no If-Match honoured (Container Apps have none): a request carrying If-Match is
refused by the stand-in itself, so the client can never come to rely on it.

Served: the Container App (GET, PATCH answering 202 + Azure-AsyncOperation), its
operation status, revisions (paged under chaos), replicas, deactivate, getAuthtoken and
the console log stream; storage accounts (paged under chaos) and their private endpoint
connections; the registry (in its own resource group, found by name across the
subscription), listBuildSourceUploadUrl, scheduleRun, runs (with output digests), cancel
and listLogSasUrl; the blob SAS URLs; the registry's data plane (tags and manifests behind
the 401 challenge → /oauth2/exchange → /oauth2/token dance).

Revision outcomes follow markers in image references: `crashloop` restarts forever,
`missing` cannot be pulled, `badprov` fails to provision, `notready` runs but its
readiness answers 503, `nocmd` cannot start its command ("executable file not found").
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
from urllib.parse import parse_qsl, unquote, urlsplit

from standin import (
    ACCOUNT,
    APP,
    BLOBACCOUNT,
    OLD_TAG,
    REGISTRY,
    REGISTRY_RG,
    RG,
    SUB,
    HttpsStandIn,
    Reply,
    Request,
    claims,
    jwt,
)

ARM = rf"/subscriptions/{SUB}/resourceGroups/(?P<rg>[^/]+)/providers"
LOG_TOKEN = "log-stream-token-7f3a"
ARM_AUDIENCES = {
    "https://management.azure.com",
    "https://management.azure.com/",
    "https://management.core.windows.net",
    "https://management.core.windows.net/",
}
ACR_AUDIENCES = {*ARM_AUDIENCES, "https://containerregistry.azure.net"}
# The api-versions the pinned SDKs send, at the lowest allowed and at the locked version.
API_VERSIONS = {
    "microsoft.app": {"2026-01-01", "2026-07-01"},
    "microsoft.storage": {"2025-08-01", "2026-09-01"},
    "microsoft.containerregistry": {"2025-11-01"},
    "tasks": {"2025-03-01-preview"},
    "acr": {"2021-07-01"},
}
_TASK_PATHS = re.compile(r"/(listBuildSourceUploadUrl|scheduleRun|runs)(/|$)", re.I)
# Docker's reference grammar (host[:port]/path[:tag][@digest]), lowercase path.
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)
# Consumption plan: cpu in 0.25 steps up to 4 with twice as many Gi of memory.
ALLOWED = {(q / 4, f"{q / 2:g}Gi") for q in range(1, 17)}
Route = Callable[[Request, "re.Match[str]"], Reply]


@dataclass
class Run:
    status: str
    chunks: list[bytes]
    log: str = ""  # blob path of its log
    request: dict[str, Any] = field(default_factory=dict)
    digest: str = ""


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


BUILT: dict[str, str] = {}  # digest → the `repository:tag` it was built as


def digest_of(name: str) -> str:
    digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    BUILT[digest] = name
    return digest


class FakeAzure(HttpsStandIn):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.modified_n = 1
        self.app = self.fixture("container_app.json", MODIFIED=self.modified_at())
        self.revisions: dict[str, dict[str, Any]] = {}
        self.provisioning_left: dict[str, int] = {}
        self.provision_polls = 1  # "Provisioning" answers before a revision settles
        self.async_polls = 1  # "InProgress" answers before an update's operation ends
        self.hidden_polls = 0  # GETs of a new revision answered 404 before it is listed
        self.operation_outcome = "Succeeded"
        self.operations: dict[str, dict[str, Any]] = {}
        self.busy_requests = 0  # a platform-side operation holds the app's lock this long
        self.foreign_change: Callable[[], None] | None = None  # runs at the next PATCH
        self.after_patch: Callable[[], None] | None = None  # runs once a PATCH is applied
        self.after_cancel: Callable[[], None] | None = None  # runs once an update is undone
        self.next_outcomes: list[str] = []  # outcomes of the next operations, then the usual
        self.tags = {f"elb-dashboard-api:{OLD_TAG}", f"elb-dashboard-frontend:{OLD_TAG}"}
        self.acr_pull = True  # the caller holds AcrPull on the registry
        self.acr_firewall = False  # the registry's firewall keeps this machine out
        self.tasks_allowed = True  # ACR Tasks usable in the subscription
        self.account: dict[str, Any] | None = self.fixture("storage_account.json")
        self.connections = self.fixture("private_endpoint_connections.json")["value"]
        self.blobs: dict[str, bytes] = {}
        self.blob_meta: dict[str, dict[str, str]] = {}
        self.runs: dict[str, Run] = {}
        self.cancelled: list[str] = []
        self.build_status = "Succeeded"
        self.build_error = ""  # runErrorMessage of a run that does not succeed
        self.build_hangs = False  # a run that never ends (until cancelled)
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
            ("POST", app + "/revisions/(?P<rev>[^/]+)/deactivate$", self.deactivate),
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
            (
                "GET",
                rf"^/subscriptions/{SUB}/providers/Microsoft\.ContainerRegistry/registries$",
                self.list_registries,
            ),
            ("GET", reg + "$", self.get_registry),
            ("POST", reg + "/listBuildSourceUploadUrl$", self.upload_url),
            ("POST", reg + "/scheduleRun$", self.schedule_run),
            ("GET", reg + "/runs/(?P<run>[^/]+)$", self.get_run),
            ("POST", reg + "/runs/(?P<run>[^/]+)/cancel$", self.cancel_run),
            ("POST", reg + "/runs/(?P<run>[^/]+)/listLogSasUrl$", self.log_url),
            ("PUT", rf"^/{BLOBACCOUNT}/(?P<blob>.+)$", self.put_blob),
            ("HEAD", rf"^/{BLOBACCOUNT}/(?P<blob>.+)$", self.head_blob),
            ("GET", rf"^/{BLOBACCOUNT}/(?P<blob>.+)$", self.get_blob),
            ("POST", r"^/oauth2/exchange$", self.acr_exchange),
            ("POST", r"^/oauth2/token$", self.acr_token),
            ("GET", r"^/acr/v1/(?P<repo>.+)/_tags/(?P<tag>[^/]+)$", self.acr_tag),
            ("GET", r"^/acr/v1/(?P<repo>.+)/_manifests/(?P<digest>[^/]+)$", self.acr_manifest),
        ]

    def route(self, request: Request) -> Reply:
        for method, pattern, handler in self.routes:
            match = pattern.search(request.path)
            if match and method == request.method:
                refused = self._arm_refusal(request) or self._api_version_refusal(request)
                return refused or handler(request, match)
        return error(404, "NoRoute", request.path)

    # -- what every Resource Manager request must carry ------------------------------
    def _arm_refusal(self, request: Request) -> Reply | None:
        arm = request.path.startswith(("/subscriptions/", "/providers/"))
        if not arm or "/logstream" in request.path:
            return None
        header = request.headers.get("authorization", "")
        token = claims(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        if token is None:
            return error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or invalid.",
            )
        if token.get("aud") not in ARM_AUDIENCES:
            return error(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource "
                f"'{token.get('aud')}'. It should exactly match with one of the allowed "
                f"audiences {', '.join(sorted(ARM_AUDIENCES))}.",
            )
        if float(token.get("exp", 0)) <= time.time():
            return error(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            )
        return None

    def _api_version_refusal(self, request: Request) -> Reply | None:
        path = request.path.lower()
        if path.startswith("/acr/v1/"):
            family = "acr"
        elif not path.startswith(("/subscriptions/", "/providers/")) or "/logstream" in path:
            return None
        elif "microsoft.containerregistry" in path and _TASK_PATHS.search(request.path):
            family = "tasks"
        else:
            family = next((f for f in API_VERSIONS if f"/providers/{f}/" in path + "/"), "")
        version = request.query.get("api-version", "")
        if family and version in API_VERSIONS[family]:
            return None
        return error(
            400,
            "NoRegisteredProviderFound" if version else "MissingApiVersionParameter",
            f"No registered resource provider found for api version '{version}' "
            f"(the stand-in serves {sorted(API_VERSIONS.get(family, ()))} for {family or path})",
        )

    # -- Container App ---------------------------------------------------------------
    def modified_at(self) -> str:
        return f"2026-05-23T03:{10 + self.modified_n:02d}:00.000000Z"

    def touch(self) -> None:
        """A user modification: what systemData.lastModifiedAt records."""
        self.modified_n += 1
        self.app["systemData"]["lastModifiedAt"] = self.modified_at()

    def images(self) -> dict[str, str]:
        template = self.app["properties"]["template"]
        return {
            c["name"]: c["image"]
            for kind in ("containers", "initContainers")
            for c in template.get(kind) or []
        }

    def get_app(self, request: Request, match: re.Match[str]) -> Reply:
        if request.path.rsplit("/", 1)[1].lower() != APP.lower() or match["rg"] != RG:
            return Reply(404, self.fixture("error_404.json", RESOURCE=request.path))
        self._tick()
        return Reply(200, self.app)

    def _tick(self) -> None:
        if self.busy_requests > 0:
            self.busy_requests -= 1

    def _in_progress(self) -> bool:
        return self.busy_requests > 0 or any(op["left"] >= 0 for op in self.operations.values())

    def patch_app(self, request: Request, match: re.Match[str]) -> Reply:
        if "if-match" in request.headers:
            return error(
                400,
                "StandInUnknownBehaviour",
                "the stand-in refuses If-Match: Container Apps have no ETag and how Azure "
                "treats If-Match is unknown (tests/platforms/azure/README.md)",
            )
        if self.foreign_change is not None:
            change, self.foreign_change = self.foreign_change, None
            change()
        if self._in_progress():
            self._tick()
            return error(
                409,
                "ContainerAppLockConflict",
                f"Cannot modify container App '{APP}' because another modification is in "
                "progress. Please retry the operation.",
            )
        body = request.json()
        props = body.get("properties") if isinstance(body, dict) else None
        if isinstance(body, dict) and "tags" in body:
            self.app["tags"] = body["tags"]
        template = (props or {}).get("template")
        refusal = validate(template) if template is not None else None
        if refusal is not None:
            return refusal
        before = copy.deepcopy(self.app)
        if template is not None:
            refusal = self._apply_template(template)
            if refusal is not None:
                return refusal
        traffic = (((props or {}).get("configuration") or {}).get("ingress") or {}).get("traffic")
        if traffic is not None:
            self.app["properties"]["configuration"]["ingress"]["traffic"] = traffic
        self.touch()
        reply = self._start_operation(before, request)
        if self.after_patch is not None:
            hook, self.after_patch = self.after_patch, None
            hook()
        return reply

    def _apply_template(self, template: dict[str, Any]) -> Reply | None:
        template = copy.deepcopy(template)
        # JSON merge patch: a missing revisionSuffix keeps the current one, which is taken
        suffix = template.pop(
            "revisionSuffix", self.app["properties"]["template"].get("revisionSuffix")
        )
        if suffix and f"{APP}--{suffix}" in self.revisions:
            return error(
                400, "ContainerAppRevisionSuffixConflict", f"revision {APP}--{suffix} exists"
            )
        self.app["properties"]["template"] = template
        name = f"{APP}--r{len(self.revisions) + 1:05d}"
        self._add_revision(name)
        self.app["properties"].update(latestRevisionName=name, provisioningState="InProgress")
        if not self._multiple():
            for other, revision in self.revisions.items():
                revision["properties"]["trafficWeight"] = 100 if other == name else 0
        return None

    def updates(self) -> list[Request]:
        """The PATCHes Azure accepted and did not cancel (chaos may add cancelled ones)."""
        return [op["request"] for op in self.operations.values() if op["outcome"] != "Canceled"]

    def _start_operation(self, before: dict[str, Any], request: Request) -> Reply:
        op = f"62e4d893-d233-4005-988e-{len(self.operations):012d}"
        outcome = (
            self.next_outcomes.pop(0)
            if self.next_outcomes
            else "Canceled"
            if self.chaos.chance(0.1)
            else self.operation_outcome
        )
        self.operations[op] = {
            "left": self.async_polls,
            "outcome": outcome,
            "before": before,
            "request": request,
        }
        location = (
            f"{self.url}/subscriptions/{SUB}/providers/Microsoft.App/locations/eastus/"
            f"containerappOperationResults/{op}?api-version=2026-01-01"
        )
        return Reply(202, None, {"azure-asyncoperation": location, "retry-after": "0"})

    def get_operation(self, request: Request, match: re.Match[str]) -> Reply:
        op = self.operations[match["op"]]
        op["left"] -= 1
        status = "InProgress" if op["left"] >= 0 else op["outcome"]
        if status == "Canceled" and op.get("before") is not None:
            self._undo(op.pop("before"))
        elif status != "InProgress":
            self.app["properties"]["provisioningState"] = status
        body = self.fixture("operation_status.json", OPERATION=match["op"], STATUS=status)
        if status == "Failed":
            body["error"] = {
                "code": "ContainerAppOperationError",
                "message": "Failed to provision revision for container app.",
            }
        if status == "Canceled":
            body["error"] = {"code": "OperationCanceled", "message": "The operation was canceled."}
        return Reply(200, body)

    def _undo(self, before: dict[str, Any]) -> None:
        """What a Canceled update leaves here: the app as before, its revision gone."""
        made = self.app["properties"]["latestRevisionName"]
        if made != before["properties"]["latestRevisionName"]:
            self.revisions.pop(made, None)
        self.app = before
        if self.after_cancel is not None:
            hook, self.after_cancel = self.after_cancel, None
            hook()
        if not self._multiple():
            for name, revision in self.revisions.items():
                weight = 100 if name == before["properties"]["latestRevisionName"] else 0
                revision["properties"]["trafficWeight"] = weight

    # -- revisions, replicas, logs ---------------------------------------------------
    def _multiple(self) -> bool:
        mode = self.app["properties"]["configuration"].get("activeRevisionsMode", "Single")
        return str(mode).lower() == "multiple"

    def _add_revision(self, name: str) -> None:
        revision = self.fixture(
            "revision.json", REVISION=name, CREATED=_created(len(self.revisions))
        )
        revision["properties"]["template"] = copy.deepcopy(self.app["properties"]["template"])
        revision["properties"]["trafficWeight"] = 0 if self._multiple() and self.revisions else 100
        marks = json_images(revision)
        if "badprov" in marks:
            revision["properties"].update(
                provisioningState="Failed",
                runningState="Failed",
                healthState="Unhealthy",
                provisioningError="Container 'api' was terminated "
                "with exit code '1' during startup",
            )
        elif "missing" in marks:
            revision["properties"].update(runningState="ActivationFailed", healthState="Unhealthy")
        elif "crashloop" in marks or "nocmd" in marks:
            revision["properties"].update(runningState="Degraded", healthState="Unhealthy")
        self.revisions[name] = revision
        self.provisioning_left[name] = self.provision_polls

    def serving(self) -> str:
        """The revision the app FQDN routes to: the one with traffic, else the newest
        healthy one."""
        healthy = [
            n
            for n, r in self.revisions.items()
            if not re.search(r"crashloop|missing|badprov|nocmd", json_images(r))
        ]
        weighted = [n for n in healthy if self.revisions[n]["properties"]["trafficWeight"] > 0]
        return (weighted or healthy or [""])[-1]

    def list_revisions(self, request: Request, match: re.Match[str]) -> Reply:
        return self.paged(request, list(self.revisions.values()))

    def paged(self, request: Request, items: list[Any]) -> Reply:
        """One page; under chaos the list comes one item a page, linked by nextLink."""
        if not self.chaos.on:
            return Reply(200, {"value": items})
        start = int(request.query.get("$skiptoken", "0"))
        query = {**request.query, "$skiptoken": str(start + 1)}
        more = start + 1 < len(items)
        link = f"{self.url}{request.path}?" + "&".join(f"{k}={v}" for k, v in query.items())
        return Reply(200, {"value": items[start : start + 1], "nextLink": link if more else None})

    def get_revision(self, request: Request, match: re.Match[str]) -> Reply:
        revision = self.revisions.get(match["rev"])
        if revision is None or (self.hidden_polls > 0 and match["rev"] == self.latest()):
            if revision is not None:
                self.hidden_polls -= 1
            return Reply(404, self.fixture("error_404.json", RESOURCE=match["rev"]))
        if self.provisioning_left[match["rev"]] > 0:
            self.provisioning_left[match["rev"]] -= 1
            shown = copy.deepcopy(revision)
            shown["properties"].update(
                provisioningState="Provisioning", runningState="Activating", healthState="None"
            )
            return Reply(200, shown)
        return Reply(200, revision)

    def latest(self) -> str:
        return str(self.app["properties"]["latestRevisionName"])

    def deactivate(self, request: Request, match: re.Match[str]) -> Reply:
        revision = self.revisions.get(match["rev"])
        if revision is None:
            return Reply(404, self.fixture("error_404.json", RESOURCE=match["rev"]))
        revision["properties"].update(active=False, runningState="Stopped", trafficWeight=0)
        return Reply(200, None)

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
        return self.paged(request, [other, *([self.account] if self.account else [])])

    def get_account(self, request: Request, match: re.Match[str]) -> Reply:
        if match["name"] != ACCOUNT or self.account is None:
            return Reply(404, self.fixture("error_404.json", RESOURCE=match["name"]))
        return Reply(200, self.account)

    def list_connections(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, {"value": self.connections})

    # -- ACR: the registry resource and builds ------------------------------------------
    def registry(self) -> dict[str, Any]:
        return dict(self.fixture("registry.json"))

    def list_registries(self, request: Request, match: re.Match[str]) -> Reply:
        other = self.fixture("registry.json", REGISTRY="crotherteam", ACR="crotherteam.azurecr.io")
        return self.paged(request, [other, self.registry()])

    def _registry_refusal(self, request: Request, match: re.Match[str]) -> Reply | None:
        name = request.path.split("/registries/")[1].split("/")[0]
        if match["rg"] != REGISTRY_RG or name != REGISTRY:
            return Reply(404, self.fixture("error_404.json", RESOURCE=name, RG=match["rg"]))
        return None

    def get_registry(self, request: Request, match: re.Match[str]) -> Reply:
        return self._registry_refusal(request, match) or Reply(200, self.registry())

    def upload_url(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._registry_refusal(request, match)
        if refused:
            return refused
        upload = f"b52f12d8-c3d6-4d75-9107-{len(self.blobs):012d}"
        return Reply(
            200, self.fixture("build_source_upload_url.json", UPLOAD=upload, EXPIRY=_expiry())
        )

    def schedule_run(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._registry_refusal(request, match)
        if refused:
            return refused
        if not self.tasks_allowed:
            return error(
                400,
                "TasksOperationsNotAllowed",
                "ACR Tasks requests are not permitted. Please file an Azure support request "
                "at http://aka.ms/azuresupport for assistance.",
            )
        run_request = request.json()
        timeout = run_request.get("timeout", 3600)
        if not 300 <= int(timeout) <= 28800:
            return error(400, "InvalidParameter", "timeout must be between 300 and 28800")
        source = str(run_request.get("sourceLocation", ""))
        if f"buildsource/{source}" not in self.blobs:
            return error(400, "InvalidSourceLocation", f"source {source} was not uploaded")
        run_id = f"cb{len(self.runs) + 1}"
        outcome = "Running" if self.build_hangs else self.build_status
        lines = [*self.build_log, f"Run ID: {run_id} was {outcome.lower()}"]
        chunks = [("\n".join(lines[i : i + 2]) + "\n").encode() for i in range(0, len(lines), 2)]
        log = f"runlogs/logs/{run_id}/rawtext.log"
        self.runs[run_id] = Run("Running", chunks, log, run_request)
        self.blobs[log], self.blob_meta[log] = b"", {}
        return Reply(200, self.fixture("run.json", RUN=run_id, STATUS="Queued"))

    def get_run(self, request: Request, match: re.Match[str]) -> Reply:
        run = self.runs[match["run"]]
        body = self.fixture("run.json", RUN=match["run"], STATUS=run.status)
        if run.status == "Succeeded":
            body["properties"]["outputImages"] = [
                {
                    "registry": self.host,
                    "repository": name.split(":")[0],
                    "tag": name.split(":")[1],
                    "digest": digest_of(name),
                }
                for name in run.request["imageNames"]
            ]
        elif run.status != "Running" and self.build_error:
            body["properties"]["runErrorMessage"] = self.build_error
        return Reply(200, body)

    def cancel_run(self, request: Request, match: re.Match[str]) -> Reply:
        run = self.runs[match["run"]]
        run.status = "Canceled"
        self.cancelled.append(match["run"])
        return Reply(200, None)

    def log_url(self, request: Request, match: re.Match[str]) -> Reply:
        return Reply(200, self.fixture("log_sas_url.json", RUN=match["run"], EXPIRY=_expiry()))

    def _grow(self, blob: str) -> None:
        """A run's log gains one chunk per look; the last look marks it Complete."""
        run = next((r for r in self.runs.values() if r.log == blob), None)
        if run is None or run.status != "Running":
            return
        if run.chunks:
            self.blobs[blob] += run.chunks.pop(0)
            return
        if self.build_hangs:
            return
        run.status = self.build_status
        self.blob_meta[blob] = {"Complete": "successful"}
        if run.status == "Succeeded":
            for name in run.request["imageNames"]:
                self.tags.add(name)
                self.tags.add(f"{name.split(':')[0]}@{digest_of(name)}")

    # -- blobs behind SAS URLs -----------------------------------------------------------
    def _sas_refusal(self, request: Request, permission: str) -> Reply | None:
        sas = request.query
        if not sas.get("sig"):
            return Reply(403, None, {"x-ms-error-code": "NoAuthenticationInformation"})
        if permission not in sas.get("sp", ""):
            return Reply(403, None, {"x-ms-error-code": "AuthorizationPermissionMismatch"})
        if sas.get("se", "") <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()):
            return Reply(403, None, {"x-ms-error-code": "AuthenticationFailed"})
        return None

    def put_blob(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._sas_refusal(request, "w")
        if refused:
            return refused
        if request.headers.get("x-ms-blob-type") != "BlockBlob":
            return Reply(400, None, {"x-ms-error-code": "MissingRequiredHeader"})
        self.blobs[match["blob"]] = request.body
        headers = _blob_headers(0)  # the reply has no body, whatever the blob's size
        headers["content-md5"] = base64.b64encode(hashlib.md5(request.body).digest()).decode()
        return Reply(201, None, headers)

    def head_blob(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._sas_refusal(request, "r")
        if refused:
            return refused
        blob = match["blob"]
        if blob not in self.blobs:
            return Reply(404, None, {"x-ms-error-code": "BlobNotFound"})
        self._grow(blob)
        headers = _blob_headers(len(self.blobs[blob]))
        headers.update({f"x-ms-meta-{k}": v for k, v in self.blob_meta[blob].items()})
        return Reply(200, None, headers)

    def get_blob(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._sas_refusal(request, "r")
        if refused:
            return refused
        data = self.blobs[match["blob"]]
        first, last = (int(x) for x in re.findall(r"\d+", request.headers["x-ms-range"]))
        part = data[first : last + 1]
        headers = _blob_headers(len(part))
        headers["content-range"] = f"bytes {first}-{first + len(part) - 1}/{len(data)}"
        return Reply(206, part, {**headers, "content-type": "application/octet-stream"})

    # -- ACR: data plane -----------------------------------------------------------------
    def _acr_refusal(self) -> Reply | None:
        if self.acr_firewall:
            return Reply(
                403,
                {
                    "errors": [
                        {
                            "code": "DENIED",
                            "message": "client with IP '127.0.0.1' is not allowed access. "
                            "Refer https://aka.ms/acr/firewall to grant access.",
                        }
                    ]
                },
            )
        return None

    def acr_exchange(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._acr_refusal()
        if refused:
            return refused
        form = dict(parse_qsl(request.body.decode()))
        token = claims(form.get("access_token", ""))
        if form.get("grant_type") != "access_token" or form.get("service") != self.host:
            return Reply(400, {"errors": [{"code": "BAD_REQUEST", "message": "bad form"}]})
        if token is None or token.get("aud") not in ACR_AUDIENCES:
            return Reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad AAD token"}]})
        return Reply(200, {"refresh_token": jwt({"exp": time.time() + 3600, "grant": "refresh"})})

    def acr_token(self, request: Request, match: re.Match[str]) -> Reply:
        form = dict(parse_qsl(request.body.decode()))
        refresh = claims(form.get("refresh_token", "")) or {}
        scope = re.fullmatch(r"repository:([a-z0-9._/-]+):([a-z_,*]+)", form.get("scope", ""))
        if refresh.get("grant") != "refresh" or scope is None or form.get("service") != self.host:
            return Reply(400, {"errors": [{"code": "BAD_REQUEST", "message": "bad form"}]})
        if not self.acr_pull:
            return Reply(
                401,
                {
                    "errors": [
                        {
                            "code": "UNAUTHORIZED",
                            "message": "authentication required, visit "
                            "https://aka.ms/acr/authorization for more information.",
                        }
                    ]
                },
            )
        access = {"repo": scope[1], "actions": scope[2].split(","), "exp": time.time() + 3600}
        return Reply(200, {"access_token": jwt(access)})

    def _acr_auth(self, request: Request, repo: str) -> Reply | None:
        refused = self._acr_refusal()
        if refused:
            return refused
        token = claims(request.headers.get("authorization", "").removeprefix("Bearer ")) or {}
        if token.get("repo") != repo or "metadata_read" not in token.get("actions", ()):
            challenge = (
                f'Bearer realm="{self.url}/oauth2/token",service="{self.host}",'
                f'scope="repository:{repo}:metadata_read"'
            )
            return Reply(
                401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"www-authenticate": challenge}
            )
        return None

    def acr_tag(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._acr_auth(request, match["repo"])
        if refused:
            return refused
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

    def acr_manifest(self, request: Request, match: re.Match[str]) -> Reply:
        refused = self._acr_auth(request, match["repo"])
        if refused:
            return refused
        if f"{match['repo']}@{unquote(match['digest'])}" not in self.tags:
            return Reply(
                404,
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
            )
        body = {
            "registry": self.host,
            "imageName": match["repo"],
            "manifest": {
                "digest": unquote(match["digest"]),
                "imageSize": 1024,
                "createdTime": "2026-05-23T03:23:00Z",
                "lastUpdateTime": "2026-05-23T03:23:00Z",
                "architecture": "amd64",
                "os": "linux",
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "tags": [],
                "changeableAttributes": {
                    "deleteEnabled": True,
                    "writeEnabled": True,
                    "readEnabled": True,
                    "listEnabled": True,
                },
            },
        }
        return Reply(200, body)


def validate(template: Any) -> Reply | None:
    """What Azure documents for a revision template: ≥ 1 container, unique names, valid
    image references and allowed cpu/memory; the stand-in's error codes are its own."""
    if not isinstance(template, dict):
        return error(400, "InvalidRequestContent", "template must be an object")
    containers = template.get("containers") or []
    if not containers:
        return error(400, "ContainerAppInvalidTemplate", "a template needs at least 1 container")
    every = [*containers, *(template.get("initContainers") or [])]
    names = [str(c.get("name", "")) for c in every]
    if len(set(names)) != len(names) or not all(names):
        return error(400, "ContainerAppDuplicateContainerName", f"container names: {names}")
    for c in every:
        if not _IMAGE.match(str(c.get("image", ""))):
            return error(
                400, "InvalidContainerImage", f"Invalid image reference {c.get('image')!r}"
            )
        res = c.get("resources") or {}
        if res and (float(res.get("cpu", 0)), str(res.get("memory", ""))) not in ALLOWED:
            return error(
                400,
                "ContainerAppInvalidResourceTotal",
                f"container {c['name']}: cpu {res.get('cpu')} / memory {res.get('memory')} is "
                "not an allowed combination",
            )
    return None


def json_images(revision: dict[str, Any]) -> str:
    """The revision's images, a digest also by the tag it was built as (markers live there)."""
    template = revision["properties"]["template"]
    images = [str(c["image"]) for c in template.get("containers") or []]
    return " ".join(image + " " + BUILT.get(image.rpartition("@")[2], "") for image in images)


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
    elif "nocmd" in marks:
        state.update(
            ready=False,
            started=False,
            runningState="Waiting",
            runningStateDetails='RunContainerError: exec: "gunicorn": executable file not '
            "found in $PATH",
        )
    return state


def _created(n: int) -> str:
    return f"2026-05-23T03:{20 + n:02d}:00+00:00"


def _expiry() -> str:
    """An hour from now, as ACR writes a SAS `se` (quoted as it appears in the URL)."""
    return time.strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ", time.gmtime(time.time() + 3600))


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


def url_query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))

"""The Container App: read it, swap images in ONE update, check what the update left.

`cli-upgrade.sh` (of elb-dashboard) updated containers one `az containerapp update` at a
time: each made a revision, and they raced each other and other operators. Here every
changed image goes into one PATCH of the template.

Container Apps send no ETag and take no `If-Match` (tests/platforms/azure/README.md), so Azure
cannot refuse a stale update for us. Protection is ours: the caller re-reads the app
right before the PATCH and compares its `change_token` (systemData.lastModifiedAt,
latestRevisionName and the template's containers) with what the plan showed, and after
the PATCH `lost_update` checks the template holds exactly the images that were sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core import exceptions as az

from elb_upgrade.errors import PlatformError, RefusedError
from elb_upgrade.platforms.azure.revision import Json
from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.translate import Action, code_of, translate, words_of
from elb_upgrade.platforms.base import AppState, ContainerImage

READINESS_PATH = "/api/health/ready"
_KINDS = ("containers", "initContainers")
# 409 codes whose message says "Please retry": another modification holds the app's lock.
_BUSY = {"containerapplockconflict", "containerappoperationinprogress", "conflict"}


class Busy(PlatformError):
    """Azure answered 409 (another operation on the app is in progress) or 429 (throttled;
    the SDK retries neither for a PATCH): nothing changed, retry later."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OperationEnded(PlatformError):
    """The update's long-running operation ended Failed or Canceled."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AppRead:
    """The app's ARM JSON as one GET returned it."""

    body: dict[str, Any]

    @property
    def props(self) -> dict[str, Any]:
        props: dict[str, Any] = self.body.get("properties") or {}
        return props

    @property
    def serving(self) -> str:
        """The revision that serves: the latest *ready* one (after a failed deploy the
        latest revision is the failed one)."""
        return str(
            self.props.get("latestReadyRevisionName") or self.props.get("latestRevisionName") or ""
        )

    @property
    def latest(self) -> str:
        return str(self.props.get("latestRevisionName") or "")

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.props.get("configuration") or {}
        return config

    @property
    def multiple(self) -> bool:
        return str(self.config.get("activeRevisionsMode") or "single").lower() == "multiple"

    @property
    def internal(self) -> bool:
        ingress: dict[str, Any] = self.config.get("ingress") or {}
        return ingress.get("external") is False

    def change_token(self) -> dict[str, str]:
        """What says the app moved: last modification, latest revision, containers."""
        template = self.props.get("template") or {}
        containers = {kind: template.get(kind) or [] for kind in _KINDS}
        return {
            "lastModifiedAt": str((self.body.get("systemData") or {}).get("lastModifiedAt", "")),
            "latestRevisionName": self.latest,
            "containers": json.dumps(containers, sort_keys=True),
        }

    def state(self, init_names: Collection[str] = ()) -> AppState:
        return AppState(revision=self.serving, images=images_of(self.body, init_names))


def changes(before: AppRead, now: AppRead) -> list[str]:
    """What differs between two reads' change tokens, in words (empty: unchanged)."""
    was, is_ = before.change_token(), now.change_token()
    said = []
    if was["lastModifiedAt"] != is_["lastModifiedAt"]:
        said.append(f"modified at {is_['lastModifiedAt'] or '?'} (was {was['lastModifiedAt']})")
    if was["latestRevisionName"] != is_["latestRevisionName"]:
        said.append(f"latest revision {is_['latestRevisionName'] or '?'} (was {before.latest})")
    if was["containers"] != is_["containers"]:
        said.append("its containers changed")
    return said


def images_of(body: Json, init_names: Collection[str] = ()) -> tuple[ContainerImage, ...]:
    """Every container's image, and those init containers' named in `init_names`.

    Init containers (migrations, say) count only when the config names them: the rest are
    the app's own business and must not make a snapshot the config cannot restore.
    """
    template = (body.get("properties") or {}).get("template") or {}
    inits = [c for c in template.get("initContainers") or () if c["name"] in init_names]
    return tuple(
        ContainerImage(str(c["name"]), str(c.get("image", "")))
        for c in [*(template.get("containers") or ()), *inits]
    )


def _json(response: Any, _model: Any, _headers: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.http_response.json()
    return body


def read(s: Session) -> AppRead | None:
    """GET the app; None when it does not exist."""
    with translate(Action("read the Container App", "Reader", s.app_scope())):
        try:
            body = s.apps.container_apps.get(s.rg, s.app_name, cls=_json)
        except az.ResourceNotFoundError:
            return None
    return AppRead(body)


def require(s: Session) -> AppRead:
    app = read(s)
    if app is None:
        raise PlatformError(
            f"Container App {s.app_name} not found in resource group {s.rg} "
            f"(subscription {s.subscription})",
            hint="check CONTAINER_APP_NAME, AZURE_RESOURCE_GROUP and the "
            "subscription (`az containerapp list -g <rg> -o table`)",
        )
    return app


def patch_body(base: AppRead, images: Mapping[str, str]) -> dict[str, Any] | None:
    """The PATCH carrying every changed image, or None when nothing changes.

    The whole template goes back (as `az containerapp update` does) so nothing in it is
    lost whether Azure merges or replaces; `revisionSuffix` is cleared so the new
    revision does not collide with the current one's name.
    """
    template = copy.deepcopy(base.props.get("template") or {})
    known = {c["name"]: c for kind in _KINDS for c in template.get(kind) or ()}
    unknown = sorted(set(images) - set(known))
    if unknown:
        raise RefusedError(
            f"the Container App has no container named {', '.join(unknown)} "
            f"(it has: {', '.join(sorted(known)) or 'none'}); nothing was changed",
            hint="make [containers] in elb-upgrade.toml use the Container App's container names",
        )
    changed = [name for name, image in images.items() if known[name].get("image") != image]
    if not changed:
        return None
    for name in changed:
        known[name]["image"] = images[name]
    template["revisionSuffix"] = None
    return {"properties": {"template": template}}


def pin_traffic(base: AppRead, body: dict[str, Any]) -> None:
    """Multiple-revision mode: keep today's traffic on today's revisions by name.

    A `latestRevision` traffic entry would hand the new revision traffic the moment it
    exists; it is rewritten to the serving revision, so the new one gets none until
    `send_traffic` moves it after the gate.
    """
    traffic = []
    for entry in (base.config.get("ingress") or {}).get("traffic") or []:
        pinned = {k: v for k, v in entry.items() if k != "latestRevision"}
        if entry.get("latestRevision"):
            pinned["revisionName"] = base.serving
        traffic.append(pinned)
    if not traffic:
        traffic = [{"revisionName": base.serving, "weight": 100}]
    body["properties"]["configuration"] = {"ingress": {"traffic": traffic}}


def update(s: Session, body: dict[str, Any], what: str = "update the Container App") -> Json:
    """One PATCH; waits for the long-running operation; returns the final app.

    Busy: Azure answered 409 because another operation holds the app (retry later).
    OperationEnded: the operation ended Failed or Canceled (its own error words kept).
    """
    action = Action(what, "Contributor", s.app_scope())
    with translate(action):
        try:
            poller = s.apps.container_apps.begin_update(s.rg, s.app_name, body, cls=_json)
            final: dict[str, Any] = poller.result()
        except az.HttpResponseError as exc:
            raise _lro_error(action, exc) or exc from exc
    return final


def _lro_error(action: Action, exc: az.HttpResponseError) -> PlatformError | None:
    status = getattr(exc, "status_code", None)
    response: Any = exc.response
    if status == 429 or (status == 409 and code_of(exc).lower() in _BUSY):
        retry = str(response.headers.get("Retry-After") or "") if response is not None else ""
        return Busy(f"{code_of(exc)}: {words_of(exc)}", float(retry) if retry.isdigit() else None)
    if status != 200 or response is None:
        return None  # an ordinary HTTP failure: translate() words it
    # azure-core raises "Operation returned an invalid status 'OK'" when the operation
    # status (HTTP 200) says Failed or Canceled: the status document has the real story.
    try:
        doc = response.json()
    except ValueError:
        doc = {}
    ended = str(doc.get("status") or "Failed")
    error = doc.get("error") or {}
    words = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    return OperationEnded(
        f"Azure's operation to {action.what} ended {ended}" + (f" ({words})" if words else ""),
        ended,
    )


def lost_update(sent: Json, final: Json) -> list[str]:
    """Containers whose image in the app after the update is not the one sent."""
    want = {c.name: c.image for c in images_of(sent, _all_inits(sent))}
    have = {c.name: c.image for c in images_of(final, _all_inits(final))}
    return sorted(
        f"{name} runs {have.get(name, 'nothing')} (sent {image})"
        for name, image in want.items()
        if have.get(name) != image
    )


def _all_inits(body: Json) -> list[str]:
    template = (body.get("properties") or {}).get("template") or {}
    return [str(c["name"]) for c in template.get("initContainers") or ()]


def latest_revision(s: Session, final: Json) -> str:
    """The revision an update made: `latestRevisionName`, else the newest one listed."""
    name = (final.get("properties") or {}).get("latestRevisionName")
    if name:
        return str(name)
    with translate(Action("list the app's revisions", "Reader", s.app_scope())):
        listed = [
            r.as_dict() for r in s.apps.container_apps_revisions.list_revisions(s.rg, s.app_name)
        ]
    if not listed:
        raise PlatformError(f"Container App {s.app_name} reports no revisions after the update")
    newest = max(listed, key=lambda r: str((r.get("properties") or {}).get("createdTime", "")))
    return str(newest["name"])


def get_revision(s: Session, name: str) -> dict[str, Any] | None:
    with translate(Action(f"read revision {name}", "Reader", s.app_scope())):
        try:
            revision: dict[str, Any] = s.apps.container_apps_revisions.get_revision(
                s.rg, s.app_name, name
            ).as_dict()
        except az.ResourceNotFoundError:
            return None
    return revision


def deactivate(s: Session, name: str) -> None:
    with translate(Action(f"deactivate revision {name}", "Contributor", s.app_scope())):
        s.apps.container_apps_revisions.deactivate_revision(s.rg, s.app_name, name)


def replicas(s: Session, revision: str) -> list[dict[str, Any]]:
    with translate(Action(f"list replicas of {revision}", "Reader", s.app_scope())):
        found = s.apps.container_apps_revision_replicas.list_replicas(
            s.rg, s.app_name, revision
        ).as_dict()
    return list(found.get("value") or [])


def revision_url(s: Session, revision: Json | None) -> str | None:
    """`https://<revision fqdn><readiness path>`: the URL that reaches one revision."""
    fqdn = ((revision or {}).get("properties") or {}).get("fqdn")
    if not fqdn:
        return None
    path = s.settings.get("ELB_UPGRADE_READINESS_PATH", READINESS_PATH)
    return f"https://{fqdn}{path if path.startswith('/') else '/' + path}"

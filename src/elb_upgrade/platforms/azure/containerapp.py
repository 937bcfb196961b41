"""The Container App: read it with its ETag, swap images in ONE conditional update, watch
the revision that update makes.

The seed updated containers one `az containerapp update` at a time: each made a revision,
and they raced each other and other operators. Here every changed image goes into one
PATCH of the template, sent with `If-Match: <ETag read for the snapshot>`, so Azure itself
refuses (412) when the app moved underneath us.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core import exceptions as az

from elb_upgrade.errors import PlatformError
from elb_upgrade.platforms.azure.revision import Json
from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.translate import Action, translate
from elb_upgrade.platforms.base import AppState, ContainerImage

READINESS_PATH = "/api/health/ready"
_KINDS = ("containers", "initContainers")


@dataclass(frozen=True)
class AppRead:
    """The app's ARM JSON and the ETag it came with (None when Azure sent none)."""

    body: dict[str, Any]
    etag: str | None

    @property
    def props(self) -> dict[str, Any]:
        props: dict[str, Any] = self.body.get("properties") or {}
        return props

    def state(self, init_names: Collection[str] = ()) -> AppState:
        revision = (
            self.props.get("latestRevisionName") or self.props.get("latestReadyRevisionName") or ""
        )
        return AppState(revision=str(revision), images=images_of(self.body, init_names))


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


def _with_etag(response: Any, _model: Any, _headers: Any) -> AppRead:
    http = response.http_response
    return AppRead(http.json(), http.headers.get("ETag"))


def read(s: Session) -> AppRead | None:
    """GET the app; None when it does not exist."""
    with translate(Action("read the Container App", "Reader", s.app_scope())):
        try:
            app: AppRead = s.apps.container_apps.get(s.rg, s.app_name, cls=_with_etag)
        except az.ResourceNotFoundError:
            return None
    return app


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
        raise PlatformError(
            f"the Container App has no container named {', '.join(unknown)} "
            f"(it has: {', '.join(sorted(known)) or 'none'})",
            hint="make [containers] in elb-upgrade.toml use the Container App's container names",
        )
    changed = [name for name, image in images.items() if known[name].get("image") != image]
    if not changed:
        return None
    for name in changed:
        known[name]["image"] = images[name]
    template["revisionSuffix"] = None
    return {"properties": {"template": template}}


def update(s: Session, base: AppRead, body: dict[str, Any]) -> dict[str, Any]:
    """One conditional PATCH; waits for the long-running operation; returns the final app."""
    headers = {"If-Match": base.etag} if base.etag else {}
    with translate(Action("update the Container App", "Contributor", s.app_scope())):
        poller = s.apps.container_apps.begin_update(
            s.rg,
            s.app_name,
            body,
            headers=headers,
            cls=lambda response, _model, _headers: response.http_response.json(),
        )
        final: dict[str, Any] = poller.result()
    return final


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


def replicas(s: Session, revision: str) -> list[dict[str, Any]]:
    with translate(Action(f"list replicas of {revision}", "Reader", s.app_scope())):
        found = s.apps.container_apps_revision_replicas.list_replicas(
            s.rg, s.app_name, revision
        ).as_dict()
    return list(found.get("value") or [])


def readiness_url(s: Session, final: Json, revision: Json | None) -> str | None:
    """The revision's own URL in multiple-revision mode; None (the configured URL) else.

    In single-revision mode the app FQDN serves whichever revision is active, so the gate
    keeps the configured URL and checks the body's `revision` field instead.
    """
    config = (final.get("properties") or {}).get("configuration") or {}
    if str(config.get("activeRevisionsMode") or "single").lower() != "multiple":
        return None
    fqdn = ((revision or {}).get("properties") or {}).get("fqdn")
    if not fqdn:
        return None
    path = s.settings.get("ELB_UPGRADE_READINESS_PATH", READINESS_PATH)
    return f"https://{fqdn}{path if path.startswith('/') else '/' + path}"

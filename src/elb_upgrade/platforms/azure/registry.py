"""The container registry: where it lives, and whether an image can still be deployed.

The registry need not live in the app's resource group (a shared registry usually does
not): it is found by name across the subscription, as `az acr build` does, or in
`ACR_RESOURCE_GROUP` when that is set; its login server comes from the resource itself.

A rollback restores images that may have been purged since (an `acr purge` task, a
retention policy, someone tidying up). Asking the registry first turns a revision that
would fail to pull into a refusal up front, with advice on what deleted it. A registry
that refuses us (401: no AcrPull; 403 DENIED: its firewall) is a refusal before any
change too, in the registry's own words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from azure.core import exceptions as az

from elb_upgrade.errors import ImageMissingError, PlatformError, RefusedError
from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.translate import Action, translate

_PROVIDER = "Microsoft.ContainerRegistry/registries"


class ImageRefused(ImageMissingError, RefusedError):
    """An image to deploy is not in the registry: refused before anything changed."""


@dataclass(frozen=True)
class ImageRef:
    """`registry/repository:tag` or `registry/repository@sha256:…`, split."""

    registry: str
    repository: str
    reference: str

    @property
    def is_digest(self) -> bool:
        return self.reference.startswith("sha256:")


@dataclass(frozen=True)
class Registry:
    """The registry resource: its name, group, login server and ARM id (a role scope)."""

    name: str
    resource_group: str
    login_server: str
    id: str
    body: dict[str, Any]


def parse(image: str) -> ImageRef | None:
    """Split a full reference; None when it names no registry host (Docker Hub style)."""
    host, slash, rest = image.partition("/")
    if not slash or not ("." in host or ":" in host or host == "localhost"):
        return None
    if "@" in rest:
        repository, _, reference = rest.partition("@")
        repository = repository.rsplit(":", 1)[0] if ":" in repository else repository
    else:
        repository, colon, reference = rest.rpartition(":")
        if not colon or "/" in reference:
            repository, reference = rest, "latest"
    return ImageRef(host.lower(), repository, reference)


def configured_name(s: Session) -> str:
    """ACR_NAME, else the first label of the configured login server."""
    named = s.settings.get("ACR_NAME")
    if named:
        return named
    server = s.settings.login_server
    return server.split(".")[0] if server else ""


def resolve(s: Session) -> Registry:
    """Find the registry by name (ACR_RESOURCE_GROUP, else across the subscription)."""
    if isinstance(s.registry, Registry):
        return s.registry
    name = configured_name(s)
    if not name:
        s.settings.require("ACR_NAME")
    group = s.settings.get("ACR_RESOURCE_GROUP")
    body = _get(s, group, name) if group else _find(s, name)
    props = body.get("properties") or {}
    found = Registry(
        name=str(body.get("name") or name),
        resource_group=_group_of(str(body.get("id", ""))) or group,
        login_server=str(props.get("loginServer") or s.settings.login_server).lower(),
        id=str(body.get("id") or ""),
        body=body,
    )
    s.registry = found
    return found


def _get(s: Session, group: str, name: str) -> dict[str, Any]:
    scope = f"/subscriptions/{s.subscription}/resourceGroups/{group}/providers/{_PROVIDER}/{name}"
    with translate(Action(f"read registry {name}", "Reader", scope)):
        try:
            body: dict[str, Any] = s.registries.registries.get(group, name).as_dict()
        except az.ResourceNotFoundError as exc:
            raise _not_found(s, name, f"resource group {group}") from exc
    return body


def _find(s: Session, name: str) -> dict[str, Any]:
    scope = f"/subscriptions/{s.subscription}"
    with translate(Action(f"find registry {name}", "Reader", scope)):
        for registry in s.registries.registries.list():
            body: dict[str, Any] = registry.as_dict()
            if str(body.get("name", "")).lower() == name.lower():
                return body
    raise _not_found(s, name, f"subscription {s.subscription}")


def _not_found(s: Session, name: str, where: str) -> PlatformError:
    return PlatformError(
        f"container registry {name} not found in {where} (or not readable by you)",
        hint="check ACR_NAME / AZURE_CONTAINER_REGISTRY_ENDPOINT, set ACR_RESOURCE_GROUP to "
        "the registry's resource group, and make sure you have 'Reader' on it",
    )


def _group_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""


def is_ours(s: Session, ref: ImageRef) -> bool:
    """Registries we can ask: the configured ACR and any *.azurecr.io."""
    own = s.settings.login_server.lower()
    return ref.registry == own or ref.registry.endswith(".azurecr.io")


def exists(s: Session, image: str) -> bool:
    """True unless the registry says the tag or digest is gone.

    Images in registries we cannot ask (Docker Hub, other clouds) count as present: a
    pull failure there still shows as a FAILED revision at the gate. A registry that
    refuses us raises RefusedError in its own words.
    """
    ref = parse(image)
    if ref is None or not is_ours(s, ref):
        return True
    client = s.registry_data(ref.registry)
    try:
        if ref.is_digest:
            client.get_manifest_properties(ref.repository, ref.reference)
        else:
            client.get_tag_properties(ref.repository, ref.reference)
    except az.ResourceNotFoundError:
        return False
    except (az.ClientAuthenticationError, az.HttpResponseError) as exc:
        raise refused(s, ref, image, exc) from exc
    except az.AzureError as exc:
        with translate(Action(f"look up {image}", "AcrPull", ref.registry)):
            raise exc
    finally:
        client.close()
    return True


def refused(s: Session, ref: ImageRef, image: str, exc: az.AzureError) -> RefusedError:
    """The registry said no: keep its words, name a fix that works."""
    status = getattr(exc, "status_code", None)
    code, words = _registry_words(exc)
    said = f"{code}: {words}" if code else words
    if code.upper() == "DENIED" and ("firewall" in words.lower() or "ip" in words.lower()):
        return RefusedError(
            f"registry {ref.registry} refused to look up {image} (nothing was changed): {said}",
            hint="the registry's firewall does not admit this machine: add its address with "
            f"`az acr network-rule add --name {ref.registry.split('.')[0]} --ip-address "
            "<your public IP>`, or run elb-upgrade from a network the registry allows",
        )
    scope = _scope_of(s, ref)
    return RefusedError(
        f"registry {ref.registry} refused to look up {image} (HTTP {status or '?'}; nothing "
        f"was changed): {said}",
        hint="your identity needs the role 'AcrPull' on the registry: ask an owner to run "
        f'az role assignment create --assignee <your user or app id> --role "AcrPull" '
        f"--scope {scope}",
    )


def _scope_of(s: Session, ref: ImageRef) -> str:
    if ref.registry == s.settings.login_server.lower():
        try:
            registry = resolve(s)
        except PlatformError:
            registry = None
        if registry is not None and registry.id:
            return registry.id
    return f"$(az acr show --name {ref.registry.split('.')[0]} --query id --output tsv)"


def _registry_words(exc: az.AzureError) -> tuple[str, str]:
    """(code, message) of the registry's error body (`{"errors": [...]}`), else the text."""
    response = getattr(exc, "response", None)
    text = ""
    if response is not None:
        try:
            text = response.text()
        except Exception:  # advice only; the status still tells the story
            text = ""
    try:
        first = (json.loads(text).get("errors") or [{}])[0]
        return str(first.get("code", "")), str(first.get("message", ""))[:300]
    except (ValueError, AttributeError, IndexError):
        message = str(getattr(exc, "message", None) or exc).strip().splitlines()
        return "", (message[0] if message else type(exc).__name__)[:300]


def digest(s: Session, image: str) -> str:
    """The manifest digest (`sha256:…`) `image` names now; "" when gone or not ours."""
    ref = parse(image)
    if ref is None or not is_ours(s, ref):
        return ""
    if ref.is_digest:
        return ref.reference if exists(s, image) else ""
    scope = f"registry {ref.registry} (repository {ref.repository})"
    client = s.registry_data(ref.registry)
    with translate(Action(f"look up {image}", "AcrPull", scope)):
        try:
            return str(client.get_tag_properties(ref.repository, ref.reference).digest)
        except az.ResourceNotFoundError:
            return ""
        finally:
            client.close()


def purge_advice(s: Session, image: str) -> str:
    """What probably deleted `image` and how to keep rollback targets next time."""
    ref = parse(image)
    name = configured_name(s) or (ref.registry.split(".")[0] if ref else "<registry>")
    policy = _retention(s)
    repo_tag = f"{ref.repository}:{ref.reference}" if ref else image
    return (
        f"{image} is gone from the registry{policy}. Tags are usually removed by an "
        f"`acr purge` task (`az acr task list -r {name}`) or by hand. Rebuild that "
        "version from its commit with `elb-upgrade <scope> --tag <old tag>`, and keep "
        f"rollback targets: `az acr repository update -n {name} --image {repo_tag} "
        "--delete-enabled false`, or exclude recent tags from the purge filter"
    )


def _retention(s: Session) -> str:
    try:
        registry = resolve(s).body
    except PlatformError:
        return ""  # advice only: a failure here must not hide the real refusal
    policy = ((registry.get("properties") or {}).get("policies") or {}).get("retentionPolicy") or {}
    if str(policy.get("status", "")).lower() != "enabled":
        return " (its retention policy is disabled, so a purge task or a person deleted it)"
    return (
        f" (retention policy enabled: untagged manifests are deleted after "
        f"{policy.get('days', '?')} days)"
    )

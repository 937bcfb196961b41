"""Whether an image can still be deployed, asked of the registry's data plane.

A rollback restores images that may have been purged since (an `acr purge` task, a
retention policy, someone tidying up). Asking the registry first turns a revision that
would fail to pull into a refusal up front, with advice on what deleted it.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.core import exceptions as az

from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.translate import Action, translate


@dataclass(frozen=True)
class ImageRef:
    """`registry/repository:tag` or `registry/repository@sha256:…`, split."""

    registry: str
    repository: str
    reference: str

    @property
    def is_digest(self) -> bool:
        return self.reference.startswith("sha256:")


def parse(image: str) -> ImageRef | None:
    """Split a full reference; None when it names no registry host (Docker Hub style)."""
    host, slash, rest = image.partition("/")
    if not slash or not ("." in host or ":" in host or host == "localhost"):
        return None
    if "@" in rest:
        repository, _, reference = rest.partition("@")
    else:
        repository, colon, reference = rest.rpartition(":")
        if not colon or "/" in reference:
            repository, reference = rest, "latest"
    return ImageRef(host.lower(), repository, reference)


def is_ours(s: Session, ref: ImageRef) -> bool:
    """Registries we can ask: the configured ACR and any *.azurecr.io."""
    own = s.settings.get("ACR_LOGIN_SERVER").lower()
    return ref.registry == own or ref.registry.endswith(".azurecr.io")


def exists(s: Session, image: str) -> bool:
    """True unless the registry says the tag or digest is gone.

    Images in registries we cannot ask (Docker Hub, other clouds) count as present: a
    pull failure there still shows as a FAILED revision at the gate.
    """
    ref = parse(image)
    if ref is None or not is_ours(s, ref):
        return True
    scope = f"registry {ref.registry} (repository {ref.repository})"
    client = s.registry_data(ref.registry)
    with translate(Action(f"look up {image}", "AcrPull", scope)):
        try:
            if ref.is_digest:
                client.get_manifest_properties(ref.repository, ref.reference)
            else:
                client.get_tag_properties(ref.repository, ref.reference)
        except az.ResourceNotFoundError:
            return False
        finally:
            client.close()
    return True


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
    name = s.settings.get("ACR_NAME") or (ref.registry.split(".")[0] if ref else "<registry>")
    policy = _retention(s, name)
    repo_tag = f"{ref.repository}:{ref.reference}" if ref else image
    return (
        f"{image} is gone from the registry{policy}. Tags are usually removed by an "
        f"`acr purge` task (`az acr task list -r {name}`) or by hand. Rebuild that "
        "version from its commit with `elb-upgrade <scope> --tag <old tag>`, and keep "
        f"rollback targets: `az acr repository update -n {name} --image {repo_tag} "
        "--delete-enabled false`, or exclude recent tags from the purge filter"
    )


def _retention(s: Session, name: str) -> str:
    try:
        registry = s.registries.registries.get(s.rg, name).as_dict()
    except az.AzureError:
        return ""  # advice only: a failure here must not hide the real refusal
    policy = ((registry.get("properties") or {}).get("policies") or {}).get("retentionPolicy") or {}
    if str(policy.get("status", "")).lower() != "enabled":
        return " (its retention policy is disabled, so a purge task or a person deleted it)"
    return (
        f" (retention policy enabled: untagged manifests are deleted after "
        f"{policy.get('days', '?')} days)"
    )

"""Azure SDK exceptions → `elb_upgrade.errors`, at the one place they enter.

    ClientAuthenticationError (401, no credential)  → PlatformUnavailable "Not logged in…"
    HttpResponseError 403                           → RefusedError: which role on which scope
    HttpResponseError 400 / 409                     → RefusedError: Azure's own code and words
    HttpResponseError 404 / other                   → PlatformError naming the action
    ServiceRequestError / ServiceResponseError      → PlatformUnavailable: cannot reach Azure

Every call into the SDK runs inside `translate(Action(...))`, so the message can say what
we were doing and which role that needs. A 4xx answer to a request means Azure refused
it and changed nothing: that is a `RefusedError` (no rollback follows). Container Apps
send no ETag and take no `If-Match` (tests/platforms/azure/README.md), so there is no 412 here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from azure.core import exceptions as az

from elb_upgrade.errors import PlatformError, PlatformUnavailable, RefusedError

LOGIN_HINT = (
    "run `az login` (and `az account set --subscription <id>`), or provide a "
    "service principal / managed identity that DefaultAzureCredential can use"
)
_ACTION = re.compile(r"perform action '([^']+)' over scope '([^']+)'")


@dataclass(frozen=True)
class Action:
    """What we were doing, the built-in role that allows it and the scope it applies to."""

    what: str
    role: str
    scope: str


@contextmanager
def translate(action: Action) -> Iterator[None]:
    """Run an SDK call; re-raise its failure as an elb-upgrade error."""
    try:
        yield
    except az.ClientAuthenticationError as exc:
        if _status(exc) == 403:
            raise forbidden(action, exc) from exc
        raise not_logged_in(exc) from exc
    except az.HttpResponseError as exc:
        raise http_error(action, exc) from exc
    except (az.ServiceRequestError, az.ServiceResponseError) as exc:
        raise PlatformUnavailable(
            f"cannot reach Azure to {action.what}: {_first_line(exc)}",
            hint="check the network or proxy (and AZURE_RESOURCE_MANAGER_URL if you set it)",
        ) from exc
    except az.AzureError as exc:
        raise PlatformError(f"Azure SDK failed to {action.what}: {_first_line(exc)}") from exc


def not_logged_in(exc: BaseException | None = None) -> PlatformUnavailable:
    detail = f" ({_first_line(exc)[:200]})" if exc is not None else ""
    return PlatformUnavailable(f"Not logged in to Azure: run `az login`{detail}", hint=LOGIN_HINT)


def http_error(action: Action, exc: az.HttpResponseError) -> PlatformError:
    """The elb-upgrade error for an HTTP failure of `action`."""
    status = _status(exc)
    if status == 403:
        return forbidden(action, exc)
    if status == 401:
        return not_logged_in(exc)
    if status == 400:
        return RefusedError(
            f"Azure refused to {action.what} (nothing was changed): {_detail(exc)}",
            hint="fix what Azure names above (the image reference, a container's cpu/memory) "
            "and rerun",
        )
    if status == 404:
        return PlatformError(
            f"not found while trying to {action.what}: {action.scope}",
            hint="check AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and the "
            "resource names (CONTAINER_APP_NAME, ACR_NAME)",
        )
    if status == 409:
        return conflict(action, exc)
    return PlatformError(f"Azure failed to {action.what}: HTTP {status} {_detail(exc)}")


def conflict(action: Action, exc: az.HttpResponseError) -> RefusedError:
    """409: a resource lock (ScopeLocked) or another operation still in progress."""
    if code_of(exc).lower() == "scopelocked":
        return RefusedError(
            f"Azure refused to {action.what}: a resource lock forbids it ({_detail(exc)})",
            hint="list the locks with `az lock list --resource-group <rg> -o table`; an owner "
            "must remove the ReadOnly lock (or deploy from a pipeline allowed to), then rerun",
        )
    return RefusedError(
        f"Azure refused to {action.what}: another operation is in progress ({_detail(exc)})",
        hint="wait for it to finish (`az containerapp show --query properties.provisioningState`)"
        ", then rerun",
    )


def code_of(exc: az.HttpResponseError) -> str:
    return str(getattr(getattr(exc, "error", None), "code", None) or "")


def words_of(exc: az.HttpResponseError) -> str:
    """The service's own message, first line, as Azure sent it."""
    error = getattr(exc, "error", None)
    return str(getattr(error, "message", None) or _first_line(exc))[:300]


def forbidden(action: Action, exc: az.HttpResponseError) -> RefusedError:
    """403: name the role that is missing and the scope it is missing on."""
    found = _ACTION.search(str(exc))
    scope = found.group(2) if found else action.scope
    denied = f" (denied: {found.group(1)})" if found else ""
    return RefusedError(
        f"permission denied to {action.what}: your identity needs the role "
        f"'{action.role}' on {scope}{denied}",
        hint=f"ask an owner to run: az role assignment create --assignee <your user or app id> "
        f'--role "{action.role}" --scope {scope}',
    )


def _status(exc: az.HttpResponseError) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _detail(exc: az.HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or _first_line(exc)
    return f"{code}: {message}"[:300] if code else str(message)[:300]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

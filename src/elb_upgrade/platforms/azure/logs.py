"""`--logs`: follow one container's console log, as `az containerapp logs show --follow`.

ARM hands out a short-lived log-stream token (`getAuthtoken`); the console log of one
replica's container is then read from the environment's log-stream endpoint. Limits:
one replica (the first listed) of the latest revision; the token lasts about an hour, so
a longer follow ends and must be restarted; a revision scaled to zero has no replica to
follow until a request wakes it.
"""

from __future__ import annotations

import ssl
from typing import TextIO

from elb_upgrade.errors import PlatformError
from elb_upgrade.platforms.azure import containerapp
from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.translate import Action, translate

TAIL_LINES = 50


def stream_url(s: Session, endpoint: str, revision: str, replica: str, container: str) -> str:
    """The console log-stream URL on the host of `endpoint` (the app's stream endpoint)."""
    base = (
        endpoint[: endpoint.index("/subscriptions/")]
        if "/subscriptions/" in endpoint
        else endpoint.rstrip("/")
    )
    return (
        f"{base}/subscriptions/{s.subscription}/resourceGroups/{s.rg}/containerApps/"
        f"{s.app_name}/revisions/{revision}/replicas/{replica}/containers/{container}"
        "/logstream"
    )


def follow(s: Session, container: str, out: TextIO) -> None:
    """Copy the container's log lines to `out` until the stream ends or Ctrl+C."""
    app = containerapp.require(s)
    revision = app.state().revision
    replicas = containerapp.replicas(s, revision)
    if not replicas:
        raise PlatformError(
            f"revision {revision} has no running replica to follow",
            hint="it may be scaled to zero: send it a request, or use "
            "`az containerapp logs show --type system`",
        )
    with translate(Action("get a log-stream token", "Contributor", s.app_scope())):
        token = s.apps.container_apps.get_auth_token(s.rg, s.app_name).as_dict()
    props = token.get("properties") or {}
    endpoint = str(props.get("logStreamEndpoint") or app.props.get("eventStreamEndpoint") or "")
    if not endpoint or not props.get("token"):
        raise PlatformError(f"Azure gave no log-stream endpoint for {s.app_name}")
    url = stream_url(s, endpoint, revision, str(replicas[0]["name"]), container)
    out.write(f"following {container} in {replicas[0]['name']} of {revision} (Ctrl+C stops)\n")
    _copy(url, str(props["token"]), s.settings.ca_bundle, out)


def _copy(url: str, token: str, ca_bundle: str | None, out: TextIO) -> None:
    import httpx  # slow to import; only `--logs` needs it here

    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    )
    params = {"follow": "true", "output": "text", "tailLines": str(TAIL_LINES)}
    try:
        with httpx.stream(
            "GET",
            url,
            params=params,
            verify=verify,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(15.0, read=None),
        ) as response:
            if response.status_code != 200:
                raise PlatformError(
                    f"the log stream answered HTTP {response.status_code}",
                    hint="retry; `az containerapp logs show --follow` reads the same stream",
                )
            for line in response.iter_lines():
                out.write(line + "\n")
                out.flush()
    except httpx.HTTPError as exc:
        raise PlatformError(f"the log stream failed: {type(exc).__name__}: {exc}") from exc

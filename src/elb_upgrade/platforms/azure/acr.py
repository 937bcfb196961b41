"""Build an image in Azure Container Registry, as `az acr build` does.

    pack the context (.dockerignore honoured) → listBuildSourceUploadUrl → PUT the tar.gz
    to that blob SAS URL → scheduleRun(DockerBuildRequest: image tag, build args) →
    listLogSasUrl → read the run's log blob as it grows (ACR sets `Complete` metadata on
    it when the run ends) → the run's final status

A failed run raises BuildError carrying the log's last lines.
"""

from __future__ import annotations

import collections
import tempfile
from typing import Any

from azure.core import exceptions as az

from elb_upgrade.clock import Clock
from elb_upgrade.errors import BuildError
from elb_upgrade.platforms.azure import context
from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.settings import BUILD_REQUIRED
from elb_upgrade.platforms.azure.translate import Action, translate
from elb_upgrade.platforms.base import LogSink
from elb_upgrade.spec import ImageSpec

TAIL_LINES = 25
_DONE = {"succeeded", "failed", "canceled", "error", "timeout"}


class LogTail:
    """Feeds complete lines to the sink and keeps the last few for an error."""

    def __init__(self, log: LogSink) -> None:
        self.log, self.partial = log, ""
        self.last: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def feed(self, chunk: bytes) -> None:
        *lines, self.partial = (self.partial + chunk.decode("utf-8", "replace")).split("\n")
        for line in lines:
            self.emit(line)

    def flush(self) -> None:
        if self.partial:
            self.emit(self.partial)
            self.partial = ""

    def emit(self, line: str) -> None:
        line = line.rstrip("\r")
        self.last.append(line)
        self.log(line)


class AcrBuild:
    """One image build in the registry named by ACR_NAME."""

    def __init__(self, s: Session, clock: Clock) -> None:
        s.settings.require(*BUILD_REQUIRED)
        self.s, self.clock = s, clock
        self.registry = s.settings.get("ACR_NAME")
        self.login_server = s.settings.get("ACR_LOGIN_SERVER")
        self.scope = s.scope("Microsoft.ContainerRegistry/registries", self.registry)

    def _action(self, what: str) -> Action:
        return Action(what, "Contributor", f"registry {self.registry} ({self.scope})")

    def run(self, image: ImageSpec, tag: str, log: LogSink) -> str:
        """Build and push `image:tag`; return the full reference."""
        source = self.upload(image, log)
        run_id = self.schedule(image, tag, source)
        log(f"ACR run {run_id} in {self.registry}: building {image.repository}:{tag}")
        tail = LogTail(log)
        self.follow(run_id, tail)
        status = self.status(run_id)
        if status.lower() != "succeeded":
            raise BuildError(
                f"ACR build of {image.repository}:{tag} ended {status} (run {run_id})"
                + ("; last lines:\n" + "\n".join(tail.last) if tail.last else ""),
                hint=f"full log: az acr task logs --registry {self.registry} --run-id {run_id}",
                log_tail="\n".join(tail.last),
            )
        return f"{self.login_server}/{image.repository}:{tag}"

    def upload(self, image: ImageSpec, log: LogSink) -> str:
        if not image.context.is_dir():
            raise BuildError(
                f"build context {image.context} of image {image.key!r} is not a directory",
                hint=f"fix images.{image.key}.context in the config",
            )
        with translate(self._action("get a build-source upload URL")):
            upload = self.s.tasks.registries.get_build_source_upload_url(
                self.s.rg, self.registry
            ).as_dict()
        with tempfile.TemporaryFile() as tmp:
            count = context.pack(image.context, image.dockerfile, tmp)
            size = tmp.tell()
            tmp.seek(0)
            with translate(self._action("upload the build context")):
                self.s.blob(upload["uploadUrl"]).upload_blob(tmp, length=size, overwrite=True)
        log(f"uploaded build context {image.context.name}: {count} files, {size / 1024:.0f} KiB")
        return str(upload["relativePath"])

    def schedule(self, image: ImageSpec, tag: str, source: str) -> str:
        request: dict[str, Any] = {
            "type": "DockerBuildRequest",
            "imageNames": [f"{image.repository}:{tag}"],
            "isPushEnabled": True,
            "noCache": False,
            "sourceLocation": source,
            "dockerFilePath": image.dockerfile,
            "arguments": [
                {"name": k, "value": v, "isSecret": False} for k, v in image.build_args.items()
            ],
            "platform": {"os": "Linux", "architecture": "amd64"},
            "timeout": int(self.s.settings.seconds("ELB_UPGRADE_ACR_BUILD_TIMEOUT", 3600)),
        }
        with translate(self._action("schedule an ACR build run")):
            run = self.s.tasks.registries.schedule_run(self.s.rg, self.registry, request)
        return str(run.as_dict()["properties"]["runId"])

    def status(self, run_id: str) -> str:
        with translate(self._action(f"read ACR run {run_id}")):
            run = self.s.tasks.runs.get(self.s.rg, self.registry, run_id).as_dict()
        return str((run.get("properties") or {}).get("status") or "Unknown")

    def follow(self, run_id: str, tail: LogTail) -> None:
        """Stream the run's log blob into `tail` until the run is over."""
        with translate(self._action(f"get the log URL of run {run_id}")):
            link = self.s.tasks.runs.get_log_sas_url(self.s.rg, self.registry, run_id)
        blob = self.s.blob(link.as_dict()["logLink"])
        interval = self.s.settings.seconds("ELB_UPGRADE_ACR_POLL_SECONDS", 2.0)
        limit = self.s.settings.seconds("ELB_UPGRADE_ACR_BUILD_TIMEOUT", 3600)
        deadline, offset, idle_after_end = self.clock.monotonic() + limit, 0, 0
        while idle_after_end < 2:
            size, complete = self._blob_state(blob)
            if size > offset:
                tail.feed(self._read(blob, offset, size - offset))
                offset = size
            elif complete or self.status(run_id).lower() in _DONE:
                idle_after_end += 1  # one more look: the last bytes may still land
            if complete and size <= offset:
                break
            if self.clock.monotonic() > deadline:
                raise BuildError(
                    f"ACR run {run_id} still running after {limit:g}s",
                    hint=f"it goes on in ACR: az acr task logs --registry "
                    f"{self.registry} --run-id {run_id}",
                    log_tail="\n".join(tail.last),
                )
            self.clock.sleep(interval)
        tail.flush()

    def _blob_state(self, blob: Any) -> tuple[int, bool]:
        with translate(self._action("read the build log")):
            try:
                props = blob.get_blob_properties()
            except az.ResourceNotFoundError:
                return 0, False  # the log blob appears once the run starts
        complete = any(k.lower() == "complete" for k in (props.metadata or {}))
        return int(props.size or 0), complete

    def _read(self, blob: Any, offset: int, length: int) -> bytes:
        with translate(self._action("read the build log")):
            data: bytes = blob.download_blob(offset=offset, length=length).readall()
        return data

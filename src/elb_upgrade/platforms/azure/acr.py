"""Build an image in Azure Container Registry, as `az acr build` does.

    pack the context (.dockerignore honoured) → listBuildSourceUploadUrl → PUT the tar.gz
    to that blob SAS URL → scheduleRun(DockerBuildRequest: image tag, build args) →
    listLogSasUrl → read the run's log blob as it grows (ACR sets `Complete` metadata on
    it when the run ends) → the run's final status → its output digest

The image deploys by the digest the run reports (`repository@sha256:…`), so what the
gate checks is exactly what was built. A failed run raises BuildError carrying the log's
last lines and the run's `runErrorMessage`. A run cut short by the timeout, Ctrl+C or
SIGTERM is cancelled in ACR before the interruption goes on.
"""

from __future__ import annotations

import collections
import tempfile
from typing import Any

from azure.core import exceptions as az

from elb_upgrade.clock import Clock
from elb_upgrade.errors import BuildError, ConfigError, PlatformError
from elb_upgrade.platforms.azure import context, registry
from elb_upgrade.platforms.azure.session import Session
from elb_upgrade.platforms.azure.translate import Action, code_of, translate, words_of
from elb_upgrade.platforms.base import LogSink
from elb_upgrade.spec import ImageSpec

TAIL_LINES = 25
_DONE = {"succeeded", "failed", "canceled", "error", "timeout"}
TIMEOUT_RANGE = (300, 28800)  # what ACR accepts for a run's timeout, in seconds
DEFAULT_TIMEOUT = 3600
NO_TASKS_HINT = (
    "ACR Tasks are not available to this subscription (free-trial and some sponsored "
    "subscriptions): build and push locally (`az acr login -n <registry>`, `docker build`, "
    "`docker push`) and deploy with --tag, or use a pay-as-you-go subscription"
)


def build_timeout(settings: Any) -> int:
    """ELB_UPGRADE_ACR_BUILD_TIMEOUT checked against the range ACR accepts."""
    seconds = int(settings.seconds("ELB_UPGRADE_ACR_BUILD_TIMEOUT", DEFAULT_TIMEOUT))
    low, high = TIMEOUT_RANGE
    if not low <= seconds <= high:
        raise ConfigError(
            f"ELB_UPGRADE_ACR_BUILD_TIMEOUT={seconds} is outside what ACR accepts "
            f"({low}–{high} seconds); nothing was built",
            hint=f"set ELB_UPGRADE_ACR_BUILD_TIMEOUT to a value from {low} to {high}",
        )
    return seconds


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
    """One image build in the app's registry (found by name, wherever its group is)."""

    def __init__(self, s: Session, clock: Clock) -> None:
        self.timeout = build_timeout(s.settings)
        found = registry.resolve(s)
        self.s, self.clock = s, clock
        self.registry, self.rg = found.name, found.resource_group
        self.login_server = found.login_server
        self.scope = found.id or s.scope("Microsoft.ContainerRegistry/registries", self.registry)

    def _action(self, what: str) -> Action:
        return Action(what, "Contributor", self.scope)

    def run(self, image: ImageSpec, tag: str, log: LogSink) -> str:
        """Build and push `image:tag`; return the reference to deploy (by digest)."""
        source = self.upload(image, log)
        run_id = self.schedule(image, tag, source)
        log(f"ACR run {run_id} in {self.registry}: building {image.repository}:{tag}")
        tail = LogTail(log)
        try:
            self.follow(run_id, tail)
        except BaseException as exc:  # timeout, Ctrl+C, SIGTERM: stop paying for the run
            self.cancel(run_id, log, exc)
            raise
        props = self.final(run_id)
        status = str(props.get("status") or "Unknown")
        if status.lower() != "succeeded":
            error = str(props.get("runErrorMessage") or "")
            raise BuildError(
                f"ACR build of {image.repository}:{tag} ended {status} (run {run_id})"
                + (f": {error}" if error else "")
                + ("; last lines:\n" + "\n".join(tail.last) if tail.last else ""),
                hint=f"full log: az acr task logs --registry {self.registry} --run-id {run_id}",
                log_tail="\n".join(tail.last),
            )
        return self.reference(image, tag, props, log)

    def reference(self, image: ImageSpec, tag: str, props: dict[str, Any], log: LogSink) -> str:
        """`<login server>/<repository>@<digest>` of the run's output, else by tag."""
        for output in props.get("outputImages") or []:
            same = str(output.get("repository", "")) == image.repository
            if same and str(output.get("tag", "")) == tag and output.get("digest"):
                return f"{self.login_server}/{image.repository}@{output['digest']}"
        log(f"ACR run reported no digest for {image.repository}:{tag}; deploying by tag")
        return f"{self.login_server}/{image.repository}:{tag}"

    def cancel(self, run_id: str, log: LogSink, why: BaseException) -> None:
        """Ask ACR to stop the run; a failure to cancel is said, never hides `why`."""
        try:
            with translate(self._action(f"cancel ACR run {run_id}")):
                self.s.tasks.runs.cancel(self.rg, self.registry, run_id)
            log(f"cancelled ACR run {run_id} ({type(why).__name__})")
        except PlatformError as exc:
            log(
                f"could not cancel ACR run {run_id}: {exc.message}; cancel it with "
                f"`az acr task cancel-run --registry {self.registry} --run-id {run_id}`"
            )

    def upload(self, image: ImageSpec, log: LogSink) -> str:
        if not image.context.is_dir():
            raise BuildError(
                f"build context {image.context} of image {image.key!r} is not a directory",
                hint=f"fix images.{image.key}.context in the config",
            )
        with translate(self._action("get a build-source upload URL")):
            upload = self.s.tasks.registries.get_build_source_upload_url(
                self.rg, self.registry
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
            "timeout": self.timeout,
        }
        with translate(self._action("schedule an ACR build run")):
            try:
                run = self.s.tasks.registries.schedule_run(self.rg, self.registry, request)
            except az.HttpResponseError as exc:
                if code_of(exc).lower() == "tasksoperationsnotallowed":
                    raise BuildError(
                        f"ACR refused to build: {code_of(exc)}: {words_of(exc)}",
                        hint=NO_TASKS_HINT,
                    ) from exc
                raise
        return str(run.as_dict()["properties"]["runId"])

    def final(self, run_id: str) -> dict[str, Any]:
        with translate(self._action(f"read ACR run {run_id}")):
            run = self.s.tasks.runs.get(self.rg, self.registry, run_id).as_dict()
        props: dict[str, Any] = run.get("properties") or {}
        return props

    def status(self, run_id: str) -> str:
        return str(self.final(run_id).get("status") or "Unknown")

    def follow(self, run_id: str, tail: LogTail) -> None:
        """Stream the run's log blob into `tail` until the run is over."""
        with translate(self._action(f"get the log URL of run {run_id}")):
            link = self.s.tasks.runs.get_log_sas_url(self.rg, self.registry, run_id)
        blob = self.s.blob(link.as_dict()["logLink"])
        interval = self.s.settings.seconds("ELB_UPGRADE_ACR_POLL_SECONDS", 2.0)
        limit = self.timeout
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
                    f"ACR run {run_id} still running after {limit:g}s; it was cancelled",
                    hint=f"raise ELB_UPGRADE_ACR_BUILD_TIMEOUT (at most {TIMEOUT_RANGE[1]}); the "
                    f"log: az acr task logs --registry {self.registry} --run-id {run_id}",
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

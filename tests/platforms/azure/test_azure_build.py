"""ACR builds: context upload (.dockerignore honoured), scheduleRun, log follow, failure."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from azurekit import Lines, StaticToken, app_spec, settings_for
from fakeazure import FakeAzure, digest_of
from standin import BLOBACCOUNT

from elb_upgrade.errors import BuildError, ConfigError
from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.azure.context import excluded, files, parse_ignore
from elb_upgrade.signals import Terminated
from elb_upgrade.spec import ImageSpec
from fakes.clock import FakeClock


@pytest.fixture
def api_image(tmp_path: Path) -> ImageSpec:
    api = tmp_path / "src" / "api"
    (api / "pkg").mkdir(parents=True)
    (api / "secrets").mkdir()
    (api / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\nCOPY . /app\n")
    (api / "app.py").write_text("print('hi')\n")
    (api / "pkg" / "mod.py").write_text("x = 1\n")
    (api / "pkg" / "mod.pyc").write_bytes(b"\0")
    (api / "secrets" / "key.pem").write_text("PRIVATE")
    (api / "secrets" / "public.pem").write_text("PUBLIC")
    (api / ".dockerignore").write_text(
        "# build junk\n**/*.pyc\nsecrets\n!secrets/public.pem\nDockerfile\n"
    )
    return app_spec({}, tmp_path / "src").images[0]


def uploaded_names(azure: FakeAzure) -> list[str]:
    [put] = azure.made("PUT", f"^/{BLOBACCOUNT}/buildsource/")
    with tarfile.open(fileobj=io.BytesIO(put.body), mode="r:gz") as tar:
        return sorted(tar.getnames())


def test_build_uploads_schedules_follows_and_returns_the_reference(
    platform: AzurePlatform, azure: FakeAzure, api_image: ImageSpec, log: Lines
) -> None:
    ref = platform.build(api_image, "20260523120000-58cc179", log)

    # deployed by the run's output digest: exactly what was built
    assert (
        ref
        == f"{azure.host}/elb-dashboard-api@{digest_of('elb-dashboard-api:20260523120000-58cc179')}"
    )
    order = [r.path.rsplit("/", 1)[-1] for r in azure.requests if r.method in ("POST", "PUT")]
    assert order[:2] == ["listBuildSourceUploadUrl", order[1]] and order[1].endswith(".tar.gz")
    assert order[2:4] == ["scheduleRun", "listLogSasUrl"]
    [put] = azure.made("PUT", f"^/{BLOBACCOUNT}/")
    assert put.headers["x-ms-blob-type"] == "BlockBlob"
    assert put.query["sig"]  # the SAS URL ACR handed out, used as is

    [schedule] = azure.made("POST", "/scheduleRun$")
    request = schedule.json()
    assert request["type"] == "DockerBuildRequest"
    assert request["imageNames"] == ["elb-dashboard-api:20260523120000-58cc179"]
    assert request["isPushEnabled"] is True
    assert request["dockerFilePath"] == "Dockerfile"
    assert request["arguments"] == [
        {"name": "BASE_IMAGE", "value": "elb-base:bookworm", "isSecret": False}
    ]
    assert request["sourceLocation"].startswith("source/202605230000/")

    assert log[-5:] == [*azure.build_log, "Run ID: cb1 was succeeded"]
    assert len(azure.made("HEAD", "rawtext.log$")) >= 3  # followed as it grew
    assert len(azure.made("GET", "rawtext.log$")) >= 2  # ranged reads of the new bytes
    assert platform.image_exists(ref)


def test_context_honours_dockerignore_but_always_sends_the_dockerfile(
    platform: AzurePlatform, azure: FakeAzure, api_image: ImageSpec, log: Lines
) -> None:
    platform.build(api_image, "t1", log)
    assert uploaded_names(azure) == [
        ".dockerignore",
        "Dockerfile",
        "app.py",
        "pkg/mod.py",
        "secrets/public.pem",
    ]


def test_failed_run_raises_with_the_log_tail(
    platform: AzurePlatform, azure: FakeAzure, api_image: ImageSpec, log: Lines
) -> None:
    azure.build_status = "Failed"
    azure.build_error = "failed to push elb-dashboard-api:t1: unauthorized"
    azure.build_log = [
        "Step 1/3 : FROM base",
        "Step 2/3 : RUN pip install -r req.txt",
        "ERROR: No matching distribution found for fastapi==99",
        "The command '/bin/sh -c pip install' returned a non-zero code: 1",
    ]
    with pytest.raises(BuildError) as caught:
        platform.build(api_image, "t1", log)
    error = caught.value
    assert "ACR build of elb-dashboard-api:t1 ended Failed (run cb1)" in str(error)
    assert "failed to push elb-dashboard-api:t1: unauthorized" in str(error)  # runErrorMessage
    assert "No matching distribution found for fastapi==99" in error.log_tail
    assert error.log_tail.splitlines()[-1] == "Run ID: cb1 was failed"
    assert "az acr task logs --registry crelbdash --run-id cb1" in error.hint
    assert not platform.image_exists(azure.image("elb-dashboard-api", "t1"))


def test_missing_context_is_a_build_error(
    platform: AzurePlatform, tmp_path: Path, log: Lines
) -> None:
    image = ImageSpec("api", "elb-dashboard-api", tmp_path / "nope")
    with pytest.raises(BuildError, match="is not a directory"):
        platform.build(image, "t1", log)


def test_403_on_schedule_names_the_registry_role(
    platform: AzurePlatform, azure: FakeAzure, api_image: ImageSpec, log: Lines
) -> None:
    azure.forbid(
        "POST",
        "/scheduleRun$",
        "Microsoft.ContainerRegistry/registries/scheduleRun/action",
        "/subscriptions/x/registries/crelbdash",
    )
    with pytest.raises(Exception) as caught:
        platform.build(api_image, "t1", log)
    assert "permission denied to schedule an ACR build run" in str(caught.value)
    assert "'Contributor'" in str(caught.value)


@pytest.mark.parametrize(
    ("rules", "path", "left_out"),
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/guide.md", False),  # `*` stays within one segment
        ("**/*.md", "docs/deep/guide.md", True),
        ("docs", "docs/deep/guide.md", True),  # a directory takes its contents along
        ("/build", "build/out.o", True),  # a leading slash is dropped
        ("node_modules\n!node_modules/keep.js", "node_modules/keep.js", False),
        ("!keep.txt\n*.txt", "keep.txt", True),  # the last matching rule wins
        ("file?.txt", "file1.txt", True),
        ("file[0-9].txt", "filea.txt", False),
        ("# comment\n\n", "# comment", False),
    ],
)
def test_dockerignore_rules(rules: str, path: str, left_out: bool) -> None:
    assert excluded(path, parse_ignore(rules)) is left_out


def test_excluded_directories_are_not_walked(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "a").mkdir(parents=True)
    (tmp_path / "node_modules" / "a" / "x.js").write_text("")
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / ".dockerignore").write_text("node_modules\n")
    assert list(files(tmp_path, "Dockerfile")) == [".dockerignore", "Dockerfile"]


@pytest.mark.parametrize("seconds", ["299", "28801"])
def test_build_timeout_outside_what_acr_accepts_is_refused_before_anything(
    make_platform,
    azure: FakeAzure,
    api_image: ImageSpec,
    log: Lines,
    seconds: str,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(ELB_UPGRADE_ACR_BUILD_TIMEOUT=seconds)
    with pytest.raises(ConfigError, match="300–28800 seconds"):
        platform.build(api_image, "t1", log)
    assert azure.made("POST", "/scheduleRun$") == []


def test_a_run_past_its_timeout_is_cancelled(
    make_platform,
    azure: FakeAzure,
    api_image: ImageSpec,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    azure.build_hangs = True
    platform = make_platform(ELB_UPGRADE_ACR_BUILD_TIMEOUT="300", ELB_UPGRADE_ACR_POLL_SECONDS="60")
    with pytest.raises(BuildError, match="still running after 300s; it was cancelled"):
        platform.build(api_image, "t1", log)
    assert azure.cancelled == ["cb1"] and azure.runs["cb1"].status == "Canceled"
    assert "cancelled ACR run cb1 (BuildError)" in log.text()


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), Terminated(15)])
def test_an_interrupted_build_cancels_its_run(
    azure: FakeAzure, bin_dir: Path, api_image: ImageSpec, log: Lines, interrupt: BaseException
) -> None:
    azure.build_hangs = True

    class Interrupting(FakeClock):
        def sleep(self, seconds: float) -> None:
            raise interrupt

    platform = AzurePlatform(
        app_spec(settings_for(azure, bin_dir)), credential_factory=StaticToken, clock=Interrupting()
    )
    with pytest.raises(type(interrupt)):
        platform.build(api_image, "t1", log)
    assert azure.cancelled == ["cb1"]


def test_tasks_not_allowed_names_the_way_out(
    platform: AzurePlatform, azure: FakeAzure, api_image: ImageSpec, log: Lines
) -> None:
    azure.tasks_allowed = False
    with pytest.raises(BuildError) as caught:
        platform.build(api_image, "t1", log)
    assert "TasksOperationsNotAllowed: ACR Tasks requests are not permitted" in str(caught.value)
    assert "build and push locally" in str(caught.value)

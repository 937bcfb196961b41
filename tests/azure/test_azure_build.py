"""ACR builds: context upload (.dockerignore honoured), scheduleRun, log follow, failure."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from azurekit import Lines, app_spec
from fakeazure import FakeAzure
from standin import BLOBACCOUNT

from elb_upgrade.errors import BuildError
from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.azure.context import excluded, files, parse_ignore
from elb_upgrade.spec import ImageSpec


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

    assert ref == f"{azure.host}/elb-dashboard-api:20260523120000-58cc179"
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

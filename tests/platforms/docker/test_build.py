"""A build the engine fails because it lost an image of its build cache meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elb_upgrade.errors import BuildError
from elb_upgrade.platforms.docker.build import LOST_CACHE_ATTEMPTS, build_image
from elb_upgrade.spec import ImageSpec

# What the classic builder answers when another build's clean-up removes an image it was
# reading while probing its cache (seen on this engine with parallel test workers).
LOST = {"error": 'unable to find image "sha256:2a83c3f1f540a3213a96e1076eaf82ca57973435ff4c4"'}
STEPS = [{"stream": "Step 1/2 : FROM elb-base:bookworm\n"}, {"stream": "Step 2/2 : LABEL x=1\n"}]


class Api:
    """`client.api.build` answering one scripted event stream per call."""

    def __init__(self, *answers: list[dict[str, str]]) -> None:
        self.answers, self.calls = list(answers), 0

    def build(self, **_: Any) -> Iterator[dict[str, str]]:
        self.calls += 1
        return iter(self.answers.pop(0))


class Client:
    def __init__(self, api: Api) -> None:
        self.api = api


@pytest.fixture
def spec(tmp_path: Path) -> ImageSpec:
    (tmp_path / "Dockerfile").write_text("FROM elb-base:bookworm\n")
    return ImageSpec("api", "shop-api", tmp_path)


def test_a_lost_cache_image_is_built_again_and_says_why(spec: ImageSpec) -> None:
    api, lines = Api([*STEPS, LOST], [*STEPS, {"stream": "Successfully built 1234\n"}]), []
    assert build_image(Client(api), spec, "v2", lines.append) == "shop-api:v2"
    assert api.calls == 2
    assert any("removed it meanwhile; building again" in line for line in lines), lines


def test_a_cache_lost_every_time_fails_naming_the_cause_not_the_dockerfile(
    spec: ImageSpec,
) -> None:
    api = Api(*([*STEPS, LOST] for _ in range(LOST_CACHE_ATTEMPTS)))
    with pytest.raises(BuildError) as caught:
        build_image(Client(api), spec, "v2", lambda _line: None)
    assert api.calls == LOST_CACHE_ATTEMPTS
    assert f"failed {LOST_CACHE_ATTEMPTS} times: unable to find image" in str(caught.value)
    assert "docker image prune" in caught.value.hint and "Dockerfile" not in caught.value.hint


def test_any_other_build_error_fails_at_once_pointing_at_the_dockerfile(spec: ImageSpec) -> None:
    api = Api([*STEPS, {"error": "The command '/bin/sh -c false' returned a non-zero code: 1"}])
    with pytest.raises(BuildError) as caught:
        build_image(Client(api), spec, "v2", lambda _line: None)
    assert api.calls == 1 and "fix the Dockerfile" in caught.value.hint

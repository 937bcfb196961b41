"""image_exists through the registry's data plane; deploys of purged images are refused."""

from __future__ import annotations

import pytest
from azurekit import Lines
from fakeazure import FakeAzure
from standin import OLD_TAG, REGISTRY, REGISTRY_RG, RG, SUB

from elb_upgrade.errors import ImageMissingError, RefusedError
from elb_upgrade.platforms.azure import AzurePlatform
from elb_upgrade.platforms.azure.registry import ImageRef, parse


def test_existing_tag_is_found_after_the_token_exchange(
    platform: AzurePlatform, azure: FakeAzure
) -> None:
    assert platform.image_exists(azure.image("elb-dashboard-api", OLD_TAG))
    steps = [(r.method, r.path) for r in azure.requests if not r.path.startswith("/subscr")]
    tag_path = f"/acr/v1/elb-dashboard-api/_tags/{OLD_TAG}"
    assert steps == [
        ("GET", tag_path),
        ("POST", "/oauth2/exchange"),
        ("POST", "/oauth2/token"),
        ("GET", tag_path),
    ]
    exchange = azure.made("POST", "/oauth2/exchange$")[0].body.decode()
    assert "grant_type=access_token" in exchange and "access_token=ey" in exchange
    token = azure.made("POST", "/oauth2/token$")[0].body.decode()
    assert "scope=repository%3Aelb-dashboard-api%3Ametadata_read" in token  # only that repo


def test_purged_tag_does_not_exist(platform: AzurePlatform, azure: FakeAzure) -> None:
    assert not platform.image_exists(azure.image("elb-dashboard-api", "20250101000000-0000000"))


def test_images_outside_our_registries_count_as_present(
    platform: AzurePlatform, azure: FakeAzure
) -> None:
    assert platform.image_exists("python:3.12-slim")
    assert platform.image_exists("ghcr.io/acme/tool:1.0")
    assert azure.requests == []  # nothing asked: not a registry we can ask


def test_deploying_a_purged_image_is_refused_with_retention_advice(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    gone = azure.image("elb-dashboard-api", "20250101000000-0000000")
    with pytest.raises(ImageMissingError) as caught:
        platform.deploy({"api": gone}, log)
    error = caught.value
    assert isinstance(error, RefusedError)  # before any change: no rollback follows
    assert f"not in the registry: {gone}" in error.message
    assert "retention policy enabled: untagged manifests are deleted after 7 days" in error.hint
    assert (
        "az acr repository update -n crelbdash --image "
        "elb-dashboard-api:20250101000000-0000000 --delete-enabled false" in error.hint
    )
    assert azure.updates() == []


def test_401_from_the_registry_is_a_refusal_naming_acrpull_on_the_registry_id(
    platform: AzurePlatform, azure: FakeAzure
) -> None:
    azure.acr_pull = False
    with pytest.raises(RefusedError) as caught:
        platform.image_exists(azure.image("elb-dashboard-api", OLD_TAG))
    text = str(caught.value)
    assert "authentication required, visit https://aka.ms/acr/authorization" in text
    assert "nothing was changed" in text
    registry_id = (
        f"/subscriptions/{SUB}/resourceGroups/{REGISTRY_RG}/providers/"
        f"Microsoft.ContainerRegistry/registries/{REGISTRY}"
    )
    assert f'--role "AcrPull" --scope {registry_id}' in text  # a scope az accepts


def test_firewall_denial_keeps_the_registry_words_and_names_the_network_rule(
    platform: AzurePlatform, azure: FakeAzure
) -> None:
    azure.acr_firewall = True
    with pytest.raises(RefusedError) as caught:
        platform.image_exists(azure.image("elb-dashboard-api", OLD_TAG))
    text = str(caught.value)
    assert "DENIED: client with IP '127.0.0.1' is not allowed access" in text
    assert "az acr network-rule add" in text


def test_registry_in_another_resource_group_is_found_by_name(
    platform: AzurePlatform, azure: FakeAzure, log: Lines
) -> None:
    platform.current()
    gone = azure.image("elb-dashboard-api", "20250101000000-0000000")
    with pytest.raises(ImageMissingError) as caught:
        platform.deploy({"api": gone}, log)
    assert "retention policy enabled" in caught.value.hint  # read from rg-elb-shared
    assert azure.made(
        "GET", r"^/subscriptions/[^/]+/providers/Microsoft\.ContainerRegistry/registries$"
    )
    assert not azure.made("GET", rf"resourceGroups/{RG}/providers/Microsoft\.ContainerRegistry")


def test_acr_resource_group_setting_reads_the_registry_there(
    make_platform,
    azure: FakeAzure,
    log: Lines,  # type: ignore[no-untyped-def]
) -> None:
    platform = make_platform(ACR_RESOURCE_GROUP=REGISTRY_RG)
    platform.current()
    with pytest.raises(ImageMissingError):
        platform.deploy({"api": azure.image("elb-dashboard-api", "gone")}, log)
    assert azure.made(
        "GET",
        rf"resourceGroups/{REGISTRY_RG}/providers/Microsoft\.ContainerRegistry/registries/{REGISTRY}$",
    )


@pytest.mark.parametrize(
    ("image", "ref"),
    [
        ("crelbdash.azurecr.io/api:v1", ImageRef("crelbdash.azurecr.io", "api", "v1")),
        ("crelbdash.azurecr.io/team/api", ImageRef("crelbdash.azurecr.io", "team/api", "latest")),
        ("127.0.0.1:5000/api:v1", ImageRef("127.0.0.1:5000", "api", "v1")),
        ("r.azurecr.io/api@sha256:ab", ImageRef("r.azurecr.io", "api", "sha256:ab")),
        ("python:3.12", None),
        ("library/python:3.12", None),
    ],
)
def test_image_references_are_split(image: str, ref: ImageRef | None) -> None:
    assert parse(image) == ref

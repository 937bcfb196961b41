"""The Docker tests clean up only what they made: their containers and their own tags."""

from __future__ import annotations

import io
import uuid
from typing import Any

import docker.errors
import pytest
from dockerkit import BASE_IMAGE, remove_app


def _build_shared_image(engine: Any, *tags: str) -> str:
    """One image (a fresh ID, not the base's) under every tag in `tags`; its ID."""
    dockerfile = f"FROM {BASE_IMAGE}\nLABEL elb-upgrade.test={uuid.uuid4().hex}\n"
    image, _ = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), rm=True)
    for ref in tags:
        repository, _, tag = ref.partition(":")
        image.tag(repository, tag)
    return str(image.id)


def test_remove_app_keeps_other_apps_tags_of_the_same_image(engine: Any) -> None:
    """Two copies of the example app built the same frontend: one image ID, two apps' tags.
    Cleaning up one test's app must leave the other app's tag (its rollback target)."""
    ours, theirs = f"t{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
    image_id = _build_shared_image(engine, f"{ours}-frontend:v1", f"{theirs}-frontend:v1")
    container = engine.containers.create(
        f"{ours}-frontend:v1", ["true"], labels={"elb-upgrade.app": ours}
    )
    try:
        remove_app(engine, ours)
        assert engine.images.get(f"{theirs}-frontend:v1").id == image_id  # still there
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(f"{ours}-frontend:v1")
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(container.id)
        assert engine.images.get(BASE_IMAGE)  # the base image is nobody's to remove
    finally:
        remove_app(engine, theirs)
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(image_id)  # the last tag gone, the image is gone too

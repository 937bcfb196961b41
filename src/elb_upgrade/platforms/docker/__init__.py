"""The `docker` platform: the app's containers on the local Docker Engine.

    platform = DockerPlatform(app)          # registry name "docker"

An app is a set of containers on the host network, named `<app>-<container>` and
labelled with the app, the container and the revision (`<app>--<n>`) that created them.
Every deploy is a new revision; it (re)creates only the containers whose image changed.
The docker SDK is imported when the platform is first used, not when this package is
imported, so `elb-upgrade --help` stays fast.
"""

from elb_upgrade.platforms.docker.platform import DockerPlatform

__all__ = ["DockerPlatform"]

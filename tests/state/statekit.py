"""Team-mode helpers: a private Azurite, one container per test, simulated hosts.

Each `Host` is a machine of its own as far as elb-upgrade can tell: its own `$HOME`
(spool, local history), `$TMPDIR`, and host name (`$ELB_UPGRADE_HOST`); all share the
app's checkout, its fake platform and one Azure Blob container.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakes.app import App
from fakes.services import AZURITE_ACCOUNT, AZURITE_KEY, HOST

LEASE = 15  # Azure's (and Azurite's) shortest finite lease


def connection_string(blob_port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{HOST}:{blob_port}/{AZURITE_ACCOUNT};"
    )


def container_url(port: int, name: str) -> str:
    return f"http://{HOST}:{port}/{AZURITE_ACCOUNT}/{name}"


def new_container(blob_port: int) -> tuple[str, Any]:
    """A fresh container (its URL and a ContainerClient for the test's own checks)."""
    from azure.storage.blob import ContainerClient

    name = f"elb15-{uuid.uuid4().hex[:12]}"
    url = container_url(blob_port, name)
    client = ContainerClient.from_container_url(
        url, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
    )
    client.create_container()
    return url, client


def use_shared_state(app: App, url: str, lease: int = LEASE) -> None:
    """Point the app's config at the container (committed: the tree stays clean)."""
    config = app.root / "elb-upgrade.toml"
    config.write_text(
        config.read_text()
        + f'\n[state]\nbackend = "azure-blob"\ncontainer_url = "{url}"\nlease_seconds = {lease}\n'
    )
    app.commit("team mode")


def use_url(app: App, url: str) -> None:
    """Point an already shared app at another URL (a relay, a closed port)."""
    config = app.root / "elb-upgrade.toml"
    text = config.read_text()
    start = text.index('container_url = "') + len('container_url = "')
    end = text.index('"', start)
    config.write_text(text[:start] + url + text[end:])
    app.commit("state url")


@dataclass
class Host:
    name: str
    root: Path
    blob_port: int

    def env(self, **extra: str) -> dict[str, str]:
        home, tmp = self.root / "home", self.root / "tmp"
        home.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        return {
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "ELB_UPGRADE_HOST": self.name,
            "ELB_UPGRADE_HISTORY": str(home / ".elb-upgrade-history.jsonl"),
            "ELB_UPGRADE_SNAPSHOT": str(tmp / "snapshot.json"),
            "AZURE_STORAGE_CONNECTION_STRING": connection_string(self.blob_port),
            **extra,
        }

    @property
    def spool(self) -> Path:
        return self.root / "home" / ".elb-upgrade-spool.jsonl"

    def run(self, app: App, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return app.run(*args, timeout=180, **self.env(**extra))

    def popen(self, app: App, *args: str, **extra: str) -> subprocess.Popen[str]:
        return app.popen(*args, **self.env(**extra))


def hosts(tmp: Path, blob_port: int, count: int) -> list[Host]:
    return [Host(f"host{i}", tmp / f"host{i}", blob_port) for i in range(count)]


def history_lines(client: Any, app: str) -> list[bytes]:
    """Every line of the app's shared history, raw, across its blobs in order."""
    names = sorted(
        (b.name for b in client.list_blobs(name_starts_with=f"{app}/history")),
        key=lambda n: (n != f"{app}/history.jsonl", n),
    )
    data = b"".join(client.get_blob_client(n).download_blob().readall() for n in names)
    return data.splitlines(keepends=True)


def entries(client: Any, app: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in history_lines(client, app)]


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)

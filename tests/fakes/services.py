"""Real services for tests and benchmarks: Redis, Azurite, and misbehaving TCP peers.

Plain helpers (no pytest import) so test suites and `bench/` can share them:

    with redis_server(tmp) as redis:        # redis.url, redis.port
    with azurite(tmp) as storage:           # storage.table_endpoint, .connection_string
    with any_azurite(tmp) as storage:       # the one scripts/setup.sh started, else a new one
    with hung_server() as port:             # accepts connections, never answers
    port = closed_port()                    # nothing listens there

Binaries come from the machine (`scripts/setup.sh` installs them); a missing one raises
`MissingService`, which fixtures turn into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from elb_upgrade.platforms.docker import containers

HOST = "127.0.0.1"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key: not a secret.
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class MissingService(RuntimeError):
    """A service binary is not installed or the service did not come up."""


def need(binary: str) -> str:
    """The path of `binary`, or MissingService telling how to install it."""
    path = shutil.which(binary)
    if path is None:
        raise MissingService(f"{binary} not found on PATH: run scripts/setup.sh")
    return path


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1, below the ephemeral range, so no
    client socket of another test takes it before the server this test starts binds it."""
    return containers.free_port(set())


def closed_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    return free_port()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Block until `port` accepts a connection; fail fast if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MissingService(f"{proc.args[0]} exited ({proc.returncode}): {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise MissingService(f"{proc.args[0]} did not listen on {port} in {timeout}s: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-800:] if log.exists() else "(no log)"


@contextlib.contextmanager
def _process(args: list[str], cwd: Path, port: int, timeout: float) -> Iterator[None]:
    log = cwd / f"{Path(args[0]).name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, log, timeout)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class RedisService:
    port: int

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisService]:
    """A throwaway redis-server on a free loopback port, no persistence."""
    binary = need("redis-server")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    with _process([*args, "--dir", str(workdir)], workdir, port, timeout=60):
        yield RedisService(port)


@dataclass(frozen=True)
class AzuriteService:
    table_port: int
    blob_port: int

    @property
    def table_endpoint(self) -> str:
        return f"http://{HOST}:{self.table_port}/{AZURITE_ACCOUNT}"

    @property
    def blob_endpoint(self) -> str:
        return f"http://{HOST}:{self.blob_port}/{AZURITE_ACCOUNT}"

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"TableEndpoint={self.table_endpoint};BlobEndpoint={self.blob_endpoint};"
        )


@contextlib.contextmanager
def azurite(workdir: Path) -> Iterator[AzuriteService]:
    """Azurite (Table + Blob + Queue) in memory on free loopback ports."""
    binary = need("azurite")
    workdir.mkdir(parents=True, exist_ok=True)
    table, blob, queue = free_port(), free_port(), free_port()
    args = [binary, "--inMemoryPersistence", "--silent", "--skipApiVersionCheck"]
    args += ["--disableTelemetry", "--blobHost", HOST, "--blobPort", str(blob)]
    args += ["--tableHost", HOST, "--tablePort", str(table)]
    args += ["--queueHost", HOST, "--queuePort", str(queue)]
    # Azurite opens the table port last, so once it accepts, blob and queue are up too.
    with _process(args, workdir, table, timeout=30):
        yield AzuriteService(table, blob)


@contextlib.contextmanager
def hung_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung dependency.

    It listens and never calls accept(); the kernel completes the handshake from the
    backlog, so clients connect, send, and wait for a reply that never comes.
    """
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen(1024)
        yield int(sock.getsockname()[1])


class TcpRelay:
    """A TCP relay from a loopback port to `target`: storage that can vanish and return.

    `down()` stops listening and cuts every open connection, so clients get "connection
    refused" (a blocked port) while the real service behind keeps running for everyone
    else; `up()` listens on the same port again.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._guard = threading.Lock()
        self.up()

    def up(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        sock.listen(256)
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._guard:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.target))
            except OSError:
                client.close()
                continue
            with self._guard:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


SETUP_AZURITE = AzuriteService(table_port=10002, blob_port=10000)  # scripts/setup.sh's


def _is_azurite(port: int, kind: str) -> bool:
    """Whether an Azurite `kind` service (Blob, Table) answers on `port`: its Server header."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", f"/{AZURITE_ACCOUNT}")
        server = conn.getresponse().getheader("Server") or ""
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return server.startswith(f"Azurite-{kind}/")


@contextlib.contextmanager
def any_azurite(workdir: Path) -> Iterator[AzuriteService]:
    """The Azurite scripts/setup.sh started (127.0.0.1:10000 and 10002) when it answers,
    else a private one (`azurite`). Sharing it is safe for tests that make their own
    containers or only read: a private one costs about 2 s of CPU to start, per worker."""
    shared = SETUP_AZURITE
    if _is_azurite(shared.blob_port, "Blob") and _is_azurite(shared.table_port, "Table"):
        yield shared
        return
    with azurite(workdir) as private:
        yield private

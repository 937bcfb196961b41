"""Clients that keep requesting a public port while a test upgrades the app behind it.

    with Load(port) as load:                  # ~50 GET /api/health per second
        ...                                   # upgrade, roll back, kill -9 ...
    load.failures, load.revisions()           # counted, never timed

Every loop is bounded in count and in time, so a hung app fails the test instead of
hanging it. Failures are counted (connection errors, non-200 answers, short bodies).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field

RATE = 50  # requests per second, about (the steady client)
MAX_SECONDS = 600.0  # no client runs longer than this, whatever the test does
TIMEOUT = 30.0


@dataclass
class Answer:
    seq: int
    ok: bool
    revision: str = ""
    error: str = ""


@dataclass
class Streamed:
    """One streaming response: the revision that served it, lines, and how it ended."""

    started_after: int  # how many load answers had arrived when it started
    ended_after: int = -1
    revision: str = ""
    lines: int = 0
    complete: bool = False
    error: str = ""
    answers_seen_at_line: list[int] = field(default_factory=list)


class Load:
    """A steady client on /api/health, a long stream and back-to-back short streams."""

    def __init__(self, port: int, short_seconds: float = 1.0) -> None:
        self.port, self.short_seconds = port, short_seconds
        self.answers: list[Answer] = []
        self.long = Streamed(0)
        self.shorts: list[Streamed] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._steady, daemon=True),
            threading.Thread(target=self._long_stream, daemon=True),
            # Two back-to-back short-stream clients half a period apart: one of them is
            # always mid-request, whenever the switch happens.
            threading.Thread(target=self._short_streams, daemon=True),
            threading.Thread(target=self._short_streams, args=(short_seconds / 2,), daemon=True),
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        self.wait_for_answers(20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)

    # -- what happened -----------------------------------------------------------------
    @property
    def failures(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if not a.ok]

    def revisions(self) -> list[str]:
        """The revisions that answered, in order, without repeats."""
        seen: list[str] = []
        with self._lock:
            for a in self.answers:
                if a.ok and (not seen or seen[-1] != a.revision):
                    seen.append(a.revision)
        return seen

    def first_answer_from(self, revision: str) -> int | None:
        with self._lock:
            return next((a.seq for a in self.answers if a.revision == revision), None)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def wait_for_answers(self, n: int, seconds: float = 60) -> None:
        target = self.count() + n
        deadline = time.monotonic() + seconds
        while self.count() < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the load client got no {n} answers in {seconds}s")
            time.sleep(0.05)

    # -- the clients -----------------------------------------------------------------
    def _steady(self) -> None:
        conn: http.client.HTTPConnection | None = None
        deadline = time.monotonic() + MAX_SECONDS
        seq = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
            answer = _get_health(conn, seq)
            if not answer.ok:
                conn.close()
                conn = None
            with self._lock:
                self.answers.append(answer)
            seq += 1
            time.sleep(max(0.0, 1 / RATE - (time.monotonic() - started)))
        if conn is not None:
            conn.close()

    def _long_stream(self) -> None:
        self._stream(MAX_SECONDS, self.long)

    def _short_streams(self, delay: float = 0.0) -> None:
        self._stop.wait(delay)
        deadline = time.monotonic() + MAX_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline:
            record = self._stream(self.short_seconds, Streamed(self.count()))
            with self._lock:
                self.shorts.append(record)

    def _stream(self, seconds: float, record: Streamed) -> Streamed:
        """GET /api/stream for `seconds`; each line is `<revision> <n>`, then `end`."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.request("GET", f"/api/stream?seconds={seconds}&every=0.1")
            reply = conn.getresponse()
            if reply.status != 200:
                record.error = f"HTTP {reply.status}"
                return record
            for _ in range(int(seconds * 10) + 2):  # one line per 0.1 s, then `end`
                line = reply.readline().decode()
                if not line:
                    record.error = record.error or "closed before the end"
                    break
                if line == "end\n":
                    record.complete = True
                    break
                record.revision = line.split()[0]
                record.lines += 1
                record.answers_seen_at_line.append(self.count())
                if self._stop.is_set() and record is self.long:
                    break  # the test is over; the long stream was never meant to end
        except (OSError, http.client.HTTPException) as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        finally:
            record.ended_after = self.count()
            conn.close()
        return record


def _get_health(conn: http.client.HTTPConnection, seq: int) -> Answer:
    try:
        conn.request("GET", "/api/health")
        reply = conn.getresponse()
        body = reply.read()
    except (OSError, http.client.HTTPException) as exc:
        return Answer(seq, False, error=f"{type(exc).__name__}: {exc}")
    if reply.status != 200:
        return Answer(seq, False, error=f"HTTP {reply.status}: {body[:100]!r}")
    try:
        revision = str(json.loads(body)["revision"])
    except (ValueError, KeyError) as exc:
        return Answer(seq, False, error=f"bad body {body[:100]!r}: {exc}")
    return Answer(seq, True, revision)

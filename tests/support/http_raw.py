"""A small asyncio HTTP/1.1 keep-alive client on raw sockets, for load and probing.

httpx costs ~1 ms of client CPU per request on these machines; this costs a few tens of µs, so 100,000
requests take seconds. It sends exactly the bytes it is given (paths are not normalised, headers not
added), which is what probing for open redirects and malformed codes needs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"


class ConnectionLost(ConnectionError):
    """The server closed the connection before a complete response; `partial` says whether bytes had arrived."""

    def __init__(self, partial: bool) -> None:
        super().__init__("connection closed before a complete response" + (" (truncated)" if partial else ""))
        self.partial = partial


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in the order sent
    body: bytes
    seconds: float  # from the first byte sent to the last byte received
    sent_at: float  # time.monotonic() when the request was written

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def click_id(self) -> str:
        location = self.header("location") or ""
        return location.rsplit("sclid=", 1)[1].partition("#")[0]

    def shape(self) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        """Everything but the Date header: what must not differ between two kinds of miss."""
        return self.status, tuple(h for h in self.headers if h[0] != "date"), self.body


def get(path: str, headers: dict[str, str] | None = None, host: str = "edge.test") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection:
    """One keep-alive connection; `request` sends bytes and reads one response."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self, timeout: float = 2.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(HOST, self.port), timeout)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(self, raw: bytes, timeout: float = 10.0) -> Reply:
        if self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        sent_at = time.monotonic()
        started = time.perf_counter()
        try:
            self._writer.write(raw)
            reply = await asyncio.wait_for(self._read(self._reader, sent_at, started), timeout)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            partial = isinstance(exc, asyncio.IncompleteReadError) and bool(exc.partial)
            raise ConnectionLost(partial) from None
        except BaseException:
            self.close()
            raise
        if (reply.header("connection") or "").lower() == "close":
            self.close()
        return reply

    @staticmethod
    async def _read(reader: asyncio.StreamReader, sent_at: float, started: float) -> Reply:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = tuple((name.strip().lower(), value.strip())
                        for name, _, value in (line.partition(":") for line in lines[1:]))
        length = next((int(v) for k, v in headers if k == "content-length"), 0)
        body = await reader.readexactly(length) if length else b""
        return Reply(status, headers, body, time.perf_counter() - started, sent_at)


@dataclass
class Load:
    """Closed-loop load on `connections` keep-alive connections until `stop()` or the deadline.

    Every reply is kept (`replies`); connection failures are counted by kind and the connection is
    reopened, so the load goes on through a worker being killed or a server restarting.
    """

    port: int
    request: Callable[[int], bytes]
    connections: int = 8
    pause: float = 0.0  # seconds between two requests of one connection: paces the load
    replies: list[Reply] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _sent: int = 0

    def stop(self) -> None:
        self._stop.set()

    def count(self, status: int) -> int:
        return sum(1 for r in self.replies if r.status == status)

    async def run(self, deadline_s: float, max_requests: int = 10_000_000) -> None:
        deadline = time.monotonic() + deadline_s
        await asyncio.gather(*(self._worker(deadline, max_requests) for _ in range(self.connections)))

    async def _worker(self, deadline: float, max_requests: int) -> None:
        connection = Connection(self.port)
        try:
            while not self._stop.is_set() and time.monotonic() < deadline and self._sent < max_requests:
                self._sent += 1
                try:
                    self.replies.append(await connection.request(self.request(self._sent)))
                except ConnectionLost as exc:
                    self._count("truncated" if exc.partial else "closed")
                except (ConnectionRefusedError, TimeoutError, OSError) as exc:
                    self._count(type(exc).__name__)
                    await asyncio.sleep(0.01)  # back off from a refused connect, not a synchronisation
                if self.pause:
                    await asyncio.sleep(self.pause)
        finally:
            connection.close()

    def _count(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def wait_for(condition: Callable[[], object], timeout: float, message: str, interval: float = 0.01) -> None:
    """Poll `condition` on the running loop until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")

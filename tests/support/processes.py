"""Tracker processes for fault tests: `python -m tracker.cli ...` children with their output in files.

Each process gets its own session (process group), so a test can signal the supervisor alone, one
worker alone, or clean up the whole group it started, and its stdout/stderr go to files under the
test's tmp_path, which the privacy audit reads back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from tests.support.servers import wait_until
from tests.support.settings import API_KEY, SECRET
from tracker.dev.embedded_redis import free_port
from tracker.events.click import decode_entry
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import Loader, clickhouse_inserter

STREAM = stream_names(1)[0]
ROOT = Path(__file__).resolve().parents[2]


def tracker_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"TRACKER_REDIS_URL": redis_url, "TRACKER_SECRET": SECRET, "TRACKER_API_KEYS": API_KEY,
                "TRACKER_SHORT_BASE": "https://go.shop.example", "PYTHONUNBUFFERED": "1",
                "TRACKER_SPILL_DIR": tempfile.mkdtemp(prefix="tracker-spill-"), **extra})
    return env


class TrackerProcess:
    """`tracker <command> ...` as a child process; `start()` waits until its /healthz answers.

    It runs in `log_dir` (a test's temp folder), never in the checkout: whatever it keeps under a relative
    path (the default `./data/clickhouse`, say) lands there. An edge also gets a free `--metrics-port`.
    """

    def __init__(self, command: Sequence[str], env: dict[str, str], log_dir: Path, name: str,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.args = [sys.executable, "-m", "tracker.cli", *command, "--port", str(self.port)]
        self.metrics_port = 0
        if command[0] == "edge":
            self.metrics_port = free_port()
            self.args += ["--metrics-port", str(self.metrics_port)]
        self.env = env
        self.cwd = log_dir
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """The edge's /metrics (on its own port); the admin's and the loader's are on their port."""
        return f"http://127.0.0.1:{self.metrics_port or self.port}/metrics"

    def start(self, timeout: float = 30.0) -> TrackerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._healthy, timeout=timeout, interval=0.05, message=f"{self.args[3]} /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.args[3:]} exited with {self.process.returncode}: {self.log()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, grace: float = 15.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took). Fails the test when it outlives `grace`."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.args[3:]} still running {grace}s after SIGTERM") from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL to the process group this object started (the supervisor and its workers)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def __enter__(self) -> TrackerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            self.kill()


def worker_pids(supervisor: int) -> list[int]:
    """The uvicorn workers of a `tracker edge --workers N` supervisor: its children running spawn_main."""
    pids = []
    for task in Path(f"/proc/{supervisor}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that ended while we looked
            continue
        for child in map(int, children):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in cmdline:
                pids.append(child)
    return sorted(pids)


def stream_click_ids(client: Any, stream: str = STREAM) -> list[str]:
    """Click ids of every click event in the stream, in stream order (duplicates kept)."""
    ids: list[str] = []
    last = "-"
    for _ in range(10_000):  # up to 100 million entries, far more than any test writes
        entries = client.xrange(stream, min=last, max="+", count=10_000)
        if last != "-":
            entries = entries[1:]
        if not entries:
            return ids
        for _, fields in entries:
            event = decode_entry(fields)
            if event.get("kind") == "click":
                ids.append(event["click_id"])
        last = entries[-1][0]
    raise AssertionError("stream longer than 100 million entries")


def load_into_clickhouse(redis_url: str, clickhouse: Any, consumer: str = "x") -> Loader:
    """Move the whole stream into the `clickhouse` fixture's database with the product's loader."""

    async def drain() -> Loader:
        client = Redis.from_url(redis_url)
        loader = Loader(client, clickhouse_inserter(clickhouse), stream_names(1), consumer)
        await loader.drain()
        await client.aclose()
        return loader

    return asyncio.run(drain())


def create_link(admin_url: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.post(f"{admin_url}/v1/links", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


def metric(text: str, name: str) -> float:
    """The sum of every sample of `name` (all label sets) in a Prometheus text page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total

"""The deployment a load run targets: one it was pointed at (`--host`), or a `tracker dev` it starts itself.

The self-started one runs exactly as a user runs it: `tracker dev` in a fresh temp folder (its chDB path is the
default `./data/clickhouse`, relative to that folder), on free loopback ports, in its own process group, with no
TRACKER_* variable of the caller's environment (a load test must never reach the caller's real Redis). It is
stopped the way Ctrl-C stops it, SIGINT to the group, which drains every event into ClickHouse before exiting;
only then can another process open its chDB folder.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from tracker.dev.embedded_redis import free_port

REPO = Path(__file__).resolve().parents[1]
READY_LINE = "tracker dev is running"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 180.0


@dataclass(frozen=True)
class Deployment:
    edge_url: str
    admin_url: str
    api_key: str
    secret: str = ""  # TRACKER_SECRET when known: lets the load sign its pixels
    clickhouse_url: str = ""  # where the loss check reads; "" skips it
    self_started: bool = False
    twilio_token: str = ""  # TRACKER_TWILIO_AUTH_TOKEN when known: lets the load post Twilio receipts
    telnyx_private_key: str = ""  # base64 key whose public half is TRACKER_TELNYX_PUBLIC_KEY: Telnyx receipts


class DevProcess:
    """`tracker dev` as a child process; its output goes to `work/dev.log`."""

    def __init__(self, work: Path, durability: str = "ack") -> None:
        self.work = work
        self.edge_port, self.admin_port = free_port(), free_port()
        self.durability = durability
        self.log_path = work / "dev.log"
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()  # set on the ready line or at end of output, whichever comes first
        self._output: list[str] = []
        self._pump_thread: threading.Thread | None = None
        # The providers' secrets of this run, made up here: the load signs receipts as Twilio and Telnyx would.
        self.twilio_token = secrets.token_hex(16)
        self._telnyx_key = Ed25519PrivateKey.generate()

    @property
    def data(self) -> Path:
        return self.work / "data"

    def start(self) -> Deployment:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        public_key = self._telnyx_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        env.update(PYTHONPATH=str(REPO), TRACKER_DURABILITY=self.durability, PYTHONUNBUFFERED="1",
                   TRACKER_TWILIO_AUTH_TOKEN=self.twilio_token,
                   TRACKER_TELNYX_PUBLIC_KEY=base64.b64encode(public_key).decode())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "dev", "--host", "127.0.0.1", "--edge-port", str(self.edge_port),
             "--admin-port", str(self.admin_port), "--metrics-port", "0", "--data", str(self.data)],
            cwd=self.work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self._pump_thread = threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True)
        self._pump_thread.start()
        if not self._ready.wait(START_TIMEOUT) or self.process.poll() is not None:
            self.kill()
            raise RuntimeError(f"tracker dev did not start; its output:\n{self.output[-3000:]}")
        return Deployment(
            edge_url=f"http://127.0.0.1:{self.edge_port}",
            admin_url=f"http://127.0.0.1:{self.admin_port}",
            api_key=(self.data / "api_key").read_text().strip(),
            secret=(self.data / "secret").read_text().strip(),
            clickhouse_url=f"chdb://{self.work / 'data' / 'clickhouse'}",
            self_started=True,
            twilio_token=self.twilio_token,
            telnyx_private_key=base64.b64encode(self._telnyx_key.private_bytes(
                Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode(),
        )

    def stop(self) -> int:
        """Ctrl-C to the whole group, then wait for the drain; SIGKILL only past STOP_TIMEOUT. Returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        code = self.process.wait()
        if self._pump_thread is not None:
            self._pump_thread.join(10)  # the last lines ("loaded N clicks ...") come with the exit
        return code

    def kill(self) -> None:
        """The hard way out; also ends its redis-server, which runs in a session of its own."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for pid in self._own_redis_servers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _own_redis_servers(self) -> list[int]:
        # Ours is the one whose --dir is inside our own temp folder: no other process can name that path.
        marker = str(self.data / "redis").encode()
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                if marker in cmdline.read_bytes().split(b"\0"):
                    pids.append(int(cmdline.parent.name))
        return pids

    @property
    def output(self) -> str:
        return "".join(self._output)

    def _pump(self, stream: IO[str]) -> None:
        # Drains the pipe for the child's whole life (a full pipe would block it) and spots the ready line.
        with self.log_path.open("w") as log:
            for line in stream:
                self._output.append(line)
                log.write(line)
                log.flush()
                if READY_LINE in line:
                    self._ready.set()
        self._ready.set()

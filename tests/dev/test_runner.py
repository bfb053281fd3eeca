"""`tracker dev` as a user runs it: one command, nothing installed, Ctrl-C loses nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from tests.support.servers import wait_until
from tracker.dev.embedded_redis import free_port

REPO = Path(__file__).resolve().parents[2]
CLEAN_ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}, "PYTHONPATH": str(REPO)}


def start_dev(cwd: Path, edge_port: int, admin_port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "dev", "--edge-port", str(edge_port), "--admin-port", str(admin_port),
         *(extra if "--metrics-port" in extra else (*extra, "--metrics-port", str(free_port())))],
        cwd=cwd, env=CLEAN_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def interrupt(dev: subprocess.Popen[str]) -> str:
    """Ctrl-C, as a terminal sends it (SIGINT to the process group); its output. SIGKILL if it outlives 60 s."""
    os.killpg(dev.pid, signal.SIGINT)
    try:
        output, _ = dev.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(dev.pid, signal.SIGKILL)
        output, _ = dev.communicate()
    return output


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
def test_dev_serves_the_tour_and_ctrl_c_moves_every_click_into_clickhouse(tmp_path):
    edge_port, admin_port = free_port(), free_port()
    dev = start_dev(tmp_path, edge_port, admin_port)
    try:
        wait_until(lambda: ready(edge_port) and ready(admin_port), timeout=60, interval=0.1, message="tracker dev")
        key = (tmp_path / "data" / "api_key").read_text().strip()
        link = httpx.post(f"http://127.0.0.1:{admin_port}/v1/links", headers={"Authorization": f"Bearer {key}"},
                          json={"destination": "https://shop.example/sale",
                                "utm": {"source": "klaviyo", "medium": "sms", "campaign": "black friday"}}).json()
        assert link["short_url"] == f"http://127.0.0.1:{edge_port}/{link['code']}"
        with httpx.Client() as client:
            for _ in range(30):
                reply = client.get(link["short_url"])
                assert reply.status_code == 302
                assert "utm_campaign=black_friday&sclid=" in reply.headers["location"]
    finally:
        output = interrupt(dev)
    assert dev.returncode == 0, output
    assert f"admin API key: {key}" in output
    assert "loaded 30 clicks" in output and "stopped cleanly" in output
    chdb_url = f"chdb://{tmp_path / 'data' / 'clickhouse'}"
    query = subprocess.run([sys.executable, "-m", "tests.support.chdb_query", chdb_url,
                            "SELECT count(), uniqExact(click_id), any(campaign) FROM clicks"],
                           cwd=tmp_path, env=CLEAN_ENV, capture_output=True, check=True, timeout=120)
    assert orjson.loads(query.stdout) == [[30, 30, "black_friday"]]
    assert (tmp_path / "data" / "secret").stat().st_mode & 0o777 == 0o600
    assert any((tmp_path / "data" / "redis").glob("appendonly*"))


@pytest.mark.slow
def test_dev_data_moves_everything_and_keeps_it_private_behind_a_redis_password(tmp_path):
    """--data DIR holds Redis, ClickHouse, the secret, the key and the Redis password; nothing lands in ./data."""
    data, cwd = tmp_path / "elsewhere" / "tracker-data", tmp_path / "cwd"
    cwd.mkdir()
    edge_port, admin_port, metrics_port = free_port(), free_port(), free_port()
    dev = start_dev(cwd, edge_port, admin_port, "--data", str(data), "--metrics-port", str(metrics_port))
    try:
        wait_until(lambda: ready(edge_port) and ready(admin_port), timeout=60, interval=0.1, message="tracker dev")
        key = (data / "api_key").read_text().strip()
        link = httpx.post(f"http://127.0.0.1:{admin_port}/v1/links", headers={"Authorization": f"Bearer {key}"},
                          json={"destination": "https://shop.example/"}).json()
        assert httpx.get(link["short_url"]).status_code == 302
        # The edge's metrics are on the metrics port, not on the public one.
        assert httpx.get(f"http://127.0.0.1:{edge_port}/metrics").status_code == 404
        assert "tracker_redirects_total" in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        # The embedded Redis asks for the password kept in the data folder.
        redis_port = embedded_redis_port(dev.pid)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=redis_port, protocol=2).ping()
        password = (data / "redis_password").read_text().strip()
        assert redis.Redis(port=redis_port, password=password).ping()
    finally:
        output = interrupt(dev)
    assert dev.returncode == 0, output
    assert not (cwd / "data").exists()
    assert f"data stays in {data}" in output
    for name in ("secret", "api_key", "redis_password"):
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    assert data.stat().st_mode & 0o777 == 0o700 and (data / "redis").stat().st_mode & 0o777 == 0o700
    redis_files = [p for p in (data / "redis").rglob("*") if p.is_file()]
    assert any(p.name.startswith("appendonly") for p in redis_files)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in redis_files} == {p.name: "0o600" for p in redis_files}
    query = subprocess.run([sys.executable, "-m", "tests.support.chdb_query", f"chdb://{data / 'clickhouse'}",
                            "SELECT count() FROM clicks"], cwd=cwd, env=CLEAN_ENV, capture_output=True, check=True,
                           timeout=120)
    assert orjson.loads(query.stdout) == [[1]]


def embedded_redis_port(dev_pid: int) -> int:
    """The port of the redis-server child of `tracker dev` (its process title is `redis-server 127.0.0.1:PORT`)."""
    for task in Path(f"/proc/{dev_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            title = re.search(rb"redis-server 127\.0\.0\.1:(\d+)", Path(f"/proc/{child}/cmdline").read_bytes())
            if title:
                return int(title.group(1))
    raise AssertionError("no redis-server child")

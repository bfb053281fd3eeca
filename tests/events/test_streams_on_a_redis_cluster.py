"""Links, redirects in ack mode, conversions and the loader on a real 3-master Redis Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.redis_cluster import LocalCluster
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import Loader, clickhouse_inserter

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(Path(tmp_path_factory.mktemp("cluster"))).start()
    yield local
    local.stop()


@pytest.mark.slow
def test_every_click_and_conversion_lands_once_through_a_redis_cluster(cluster, clickhouse):
    settings = make_settings(cluster.url, TRACKER_DURABILITY="ack", TRACKER_EVENT_STREAMS="3")
    with serve_in_thread(Admin(settings).app) as admin_url, serve_in_thread(Edge(settings)) as edge_url:
        with httpx.Client(base_url=admin_url, headers=AUTH, timeout=30) as admin:
            links = admin.post("/v1/links/batch", json={
                "template": {"destination": "https://shop.example/", "utm": {"campaign": "cluster"}},
                "recipients": [f"+1415555{i:04d}" for i in range(300)],
            }).json()["links"]
            assert admin.patch(f"/v1/links/{links[0]['code']}", json={"disabled": True}).status_code == 200
            accepted = admin.post("/v1/conversions", json=[
                {"order_id": f"o{i}", "value": "10", "currency": "EUR"} for i in range(50)
            ] * 2).json()
        assert accepted == {"accepted": 50, "duplicates": 50, "conflicts": []}
        click_ids = []
        with httpx.Client(base_url=edge_url) as edge:
            assert edge.get(f"/{links[0]['code']}").status_code == 404
            for link in links[1:]:
                for _ in range(2):
                    reply = edge.get(f"/{link['code']}")
                    assert reply.status_code == 302
                    click_ids.append(reply.headers["location"].rsplit("sclid=", 1)[1])

    nodes_with_streams = set()
    for node in cluster.nodes:
        client = redis.Redis(port=node.port)
        keys = {key.decode() for key in client.keys("tracker:events:*")}
        if keys:
            nodes_with_streams.add(node.port)
        client.close()
    assert len(nodes_with_streams) == 3  # no single node takes every click

    async def load() -> Loader:
        from shortlinks.redis_connection import connect_redis

        client = connect_redis(settings.redis_url)
        loader = Loader(client, clickhouse_inserter(clickhouse), stream_names(3), "cluster-loader")
        await loader.drain()
        await client.aclose()
        return loader

    loader = asyncio.run(load())
    assert loader.stats.clicks == 598 and loader.stats.conversions == 50
    rows = clickhouse.query("SELECT count(), uniqExact(click_id) FROM clicks").result_rows[0]
    assert rows == (598, 598)
    loaded = {row[0] for row in clickhouse.query("SELECT click_id FROM clicks").result_rows}
    assert loaded == set(click_ids)
    assert clickhouse.query("SELECT count(), uniqExact(order_id) FROM conversions").result_rows[0] == (50, 50)

"""Fixtures: a real redis-server process and a real ClickHouse engine (chDB), on loopback / temp dirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tracker.embedded_redis import EmbeddedRedis
from tracker.settings import Settings

pytest_plugins = ["tests.fixtures_clickhouse"]

SECRET = "test-secret-0123456789abcdef"
API_KEY = "test-api-key-0123456789"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis"))).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """The session's redis-server, emptied for this test."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()  # a test stopped it on purpose
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def make_settings(redis_url: str = "", **env: str) -> Settings:
    base = {
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_SECRET": SECRET,
        "TRACKER_API_KEYS": API_KEY,
        "TRACKER_SHORT_BASE": "https://go.shop.example",
    }
    return Settings.from_env({**base, **env})


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return make_settings(redis_url)

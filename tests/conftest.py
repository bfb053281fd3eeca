"""Fixtures: a real redis-server process and a real ClickHouse engine (chDB), on loopback / temp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.settings import make_settings
from tracker.dev.embedded_redis import EmbeddedRedis
from tracker.settings import Settings

pytest_plugins = ["tests.support.clickhouse"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The suite runs in a temp folder, never in the checkout: a relative path anything opens (the default
    `chdb://./data/clickhouse`, `./data/redis`), in this process or in a child it starts, lands there, so `make
    test` never touches the `./data` of a `tracker dev` running from the same checkout. Children that run a
    module of `tests.support` find it through PYTHONPATH."""
    before = Path.cwd()
    here = tmp_path_factory.mktemp("cwd")
    os.chdir(here)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    yield here
    os.chdir(before)


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


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return make_settings(redis_url)

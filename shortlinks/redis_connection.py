"""One place that turns a Redis URL into a redis-py client (plain or cluster)."""

from __future__ import annotations

import redis
import redis.cluster
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

AnyRedis = Redis | RedisCluster
MAX_CONNECTIONS = 256
CLUSTER_SCHEME = "redis+cluster://"


def _cluster_url(url: str) -> str | None:
    """`redis+cluster://host:port` -> the `redis://` URL redis-py's cluster client takes; None for a plain URL."""
    return "redis://" + url.removeprefix(CLUSTER_SCHEME) if url.startswith(CLUSTER_SCHEME) else None


def connect_redis(url: str, *, timeout: float = 2.0) -> AnyRedis:
    """`redis+cluster://host:port` selects Redis Cluster; anything else is a plain Redis URL.

    Timeouts are short on purpose: the edge would rather fail open than hang a redirect.
    """
    cluster = _cluster_url(url)
    if cluster is not None:
        return RedisCluster.from_url(cluster, socket_timeout=timeout, socket_connect_timeout=timeout)
    # A blocking pool: a burst of cache misses (an SMS blast's first taps) waits a moment for a
    # connection instead of failing with "Too many connections".
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=timeout, socket_timeout=timeout,
        socket_connect_timeout=timeout, health_check_interval=30,
    )
    return Redis(connection_pool=pool)


def ping_redis(url: str, *, timeout: float = 2.0) -> None:
    """One synchronous PING of the server(s) behind `url`, for a process checking Redis before it starts.

    Raises what redis-py raises: ConnectionError / TimeoutError when nothing answers, AuthenticationError
    (or ResponseError NOAUTH / WRONGPASS) when the credentials are wrong.
    """
    cluster = _cluster_url(url)
    client: redis.Redis | redis.cluster.RedisCluster
    if cluster is not None:
        client = redis.cluster.RedisCluster.from_url(cluster, socket_timeout=timeout, socket_connect_timeout=timeout)
    else:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()

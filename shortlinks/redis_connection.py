"""One place that turns a Redis URL into a redis-py asyncio client (plain or cluster)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

AnyRedis = Redis | RedisCluster
MAX_CONNECTIONS = 256


def connect_redis(url: str, *, timeout: float = 2.0) -> AnyRedis:
    """`redis+cluster://host:port` selects Redis Cluster; anything else is a plain Redis URL.

    Timeouts are short on purpose: the edge would rather fail open than hang a redirect.
    """
    if url.startswith("redis+cluster://"):
        return RedisCluster.from_url(
            "redis://" + url.removeprefix("redis+cluster://"),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
    # A blocking pool: a burst of cache misses (an SMS blast's first taps) waits a moment for a
    # connection instead of failing with "Too many connections".
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=timeout, socket_timeout=timeout,
        socket_connect_timeout=timeout, health_check_interval=30,
    )
    return Redis(connection_pool=pool)

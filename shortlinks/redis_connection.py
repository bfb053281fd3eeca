"""One place that turns a Redis URL into a redis-py asyncio client (plain or cluster)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

AnyRedis = Redis | RedisCluster


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
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30)

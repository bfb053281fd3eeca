"""One Lua script called on the hot path with as little client code as possible.

redis-py's generic command path (connection pool, per-argument encoding, a timeout task per read
and write, response callbacks) costs more CPU than the rest of a batch of taps. On a plain Redis
the channel keeps one connection of its own, packs the calls with hiredis' C packer, writes every
call of a batch at once and reads the replies back: one round trip for all stream shards. On Redis
Cluster the shards live on different nodes, so each call goes through the cluster client's script
object (it routes by the keys' slot), all of them concurrently.

A call that fails leaves the connection in an unknown state (a reply may be half read): it is
dropped, and the next call connects again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import NoScriptError, ResponseError

from shortlinks.redis_connection import AnyRedis

Call = tuple[Sequence[str], Sequence[str | bytes | int]]  # (keys, args)


class ScriptChannel:
    def __init__(self, redis: AnyRedis, source: str) -> None:
        self._redis = redis
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()
        self._script = redis.register_script(source)
        self._connection: Connection | None = None

    async def call_all(self, calls: Sequence[Call]) -> list[Any]:
        """Run the script once per call; replies in call order, an exception in place of a failed call."""
        if not isinstance(self._redis, Redis):
            return await asyncio.gather(*(self._script(keys=keys, args=args) for keys, args in calls),
                                        return_exceptions=True)
        try:
            replies = await self._pipelined(calls)
            if any(isinstance(r, NoScriptError) for r in replies):  # a restarted Redis forgot it; nothing ran
                await self._load()
                replies = await self._pipelined(calls)
        except BaseException:
            await self.close()
            raise
        return replies

    async def prepare(self) -> None:
        """Connect and load the script now, so that the first call finds both ready."""
        if isinstance(self._redis, Redis):
            try:
                await self._load()
            except BaseException:
                await self.close()
                raise
        else:
            await self._redis.script_load(self._source)

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.disconnect(nowait=True)

    async def _pipelined(self, calls: Sequence[Call]) -> list[Any]:
        connection = await self._connect()
        packed = b"".join(_pack("EVALSHA", self._sha, len(keys), *keys, *args) for keys, args in calls)
        await connection.send_packed_command(packed, check_health=False)
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(await connection.read_response(disconnect_on_error=True))
            except ResponseError as exc:  # one call's error (OOM, NOSCRIPT): the others' replies still follow
                replies.append(exc)
        return replies

    async def _load(self) -> None:
        connection = await self._connect()
        await connection.send_packed_command(_pack("SCRIPT", "LOAD", self._source), check_health=False)
        await connection.read_response()

    async def _connect(self) -> Connection:
        connection = self._connection
        if connection is None:
            assert isinstance(self._redis, Redis)
            pool = self._redis.connection_pool
            # The channel's own connection, configured like the pool's, but without per-read timeouts:
            # the writer bounds the whole batch with one.
            kwargs = {**pool.connection_kwargs, "socket_timeout": None}
            connection = pool.connection_class(**kwargs)  # type: ignore[assignment]
            assert connection is not None
            await connection.connect()
            self._connection = connection
        return connection


def _pack(*args: Any) -> bytes:
    """One command in RESP, packed by hiredis (C)."""
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]
    return packed

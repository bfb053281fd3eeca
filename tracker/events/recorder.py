"""The conversion recorder: each conversion into the stream once per (order_id, type), whoever receives it."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from shortlinks.redis_connection import AnyRedis
from tracker.events.streams import stream_tag

# SET NX of the (order_id, type) key and XADD of the event in one atomic step, so a
# conversion is either new and in the stream, or a duplicate and not; never claimed and lost.
_RECORD_CONVERSIONS = """
local accepted = {}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local key = KEYS[2] .. ARGV[i]
  if redis.call('SET', key, '1', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 1])
    accepted[#accepted + 1] = 1
  else
    accepted[#accepted + 1] = 0
  end
end
return accepted
"""
DEDUP_TTL = 400 * 86400


class ConversionRecorder:
    """Writes conversions to the stream exactly once per (order_id, type).

    The dedup key of an order lives in the same cluster slot as the stream it is written to
    (same hash tag), chosen by hashing the order, so one script call can check and append.
    """

    def __init__(self, redis: AnyRedis, streams: Sequence[str]) -> None:
        self._redis = redis
        self._streams = list(streams)
        self._script = redis.register_script(_RECORD_CONVERSIONS)

    async def record(self, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """`items` are (dedup identity, event JSON); returns, in order, True for new, False for duplicates."""
        by_stream: dict[int, list[int]] = {}
        for index, (identity, _) in enumerate(items):
            by_stream.setdefault(zlib.crc32(identity.encode()) % len(self._streams), []).append(index)
        accepted = [False] * len(items)
        for shard, indexes in by_stream.items():
            stream = self._streams[shard]
            args: list[str | bytes] = [str(DEDUP_TTL)]
            for index in indexes:
                args += [items[index][0], items[index][1]]
            flags = await self._script(keys=[stream, f"tracker:conv:{stream_tag(stream)}:"], args=args)
            for index, flag in zip(indexes, flags, strict=True):
                accepted[index] = bool(flag)
        return accepted

"""The conversion recorder: each conversion into the stream once per identity, whoever receives it.

A conversion's identity is its (order_id, type) (and, for a store's refund, which refund). Its dedup key holds
a fingerprint of the value and currency first recorded: the same conversion again is a duplicate, the same
identity with another amount is a conflict, and neither changes anything. A store's delivery may also carry
its own id (Shopify's event id): `seen` / `remember` let the hook skip a delivery it has handled before.

`MessageRecorder` is the same recorder for message events (a text's status), with keys of their own: once per
(message_id, status) and door, and the fingerprint a constant, so a repeat is a duplicate, never a conflict.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Literal

from shortlinks.redis_connection import AnyRedis
from tracker.events.streams import stream_tag

Outcome = Literal["accepted", "duplicate", "conflict"]
ACCEPTED: Outcome = "accepted"
DUPLICATE: Outcome = "duplicate"
CONFLICT: Outcome = "conflict"
_OUTCOMES: tuple[Outcome, ...] = (DUPLICATE, ACCEPTED, CONFLICT)  # indexed by the script's answer

# The check and the XADD in one atomic step, so a conversion is either new and in the stream, or a duplicate
# or conflict and not; never claimed and lost. Keys written before fingerprints existed hold '1': a repeat of
# such a conversion is a duplicate (its amount was never kept, so it cannot be told to conflict).
_RECORD_CONVERSIONS = """
local outcomes = {}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local key = KEYS[2] .. ARGV[i]
  local known = redis.call('GET', key)
  if not known then
    redis.call('SET', key, ARGV[i + 1], 'EX', ttl)
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 2])
    outcomes[#outcomes + 1] = 1
  elseif known == ARGV[i + 1] or known == '1' then
    outcomes[#outcomes + 1] = 0
  else
    outcomes[#outcomes + 1] = 2
  end
end
return outcomes
"""
DEDUP_TTL = 400 * 86400
# Platforms redeliver for a few days at most (Shopify: 48 hours); a week covers a delayed retry queue.
DELIVERY_TTL = 7 * 86400
_DELIVERY_PREFIX = "tracker:delivery:"


MAX_SCRIPT_ITEMS = 1000  # events per script call: a batch of 10,000 must not hold Redis for long


class ConversionRecorder:
    """Writes conversions to the stream exactly once per identity.

    The dedup key of an identity lives in the same cluster slot as the stream it is written to
    (same hash tag), chosen by hashing the identity, so one script call can check and append.
    """

    namespace = "conv"  # of the dedup keys: tracker:<namespace>:<stream tag>:<identity>

    def __init__(self, redis: AnyRedis, streams: Sequence[str]) -> None:
        self._redis = redis
        self._streams = list(streams)
        self._script = redis.register_script(_RECORD_CONVERSIONS)

    async def record(self, items: Sequence[tuple[str, str, bytes]]) -> list[Outcome]:
        """`items` are (identity, fingerprint, event JSON); returns each one's outcome, in order."""
        by_stream: dict[int, list[int]] = {}
        for index, (identity, _, _) in enumerate(items):
            by_stream.setdefault(zlib.crc32(identity.encode()) % len(self._streams), []).append(index)
        outcomes: list[Outcome] = [DUPLICATE] * len(items)
        for shard, indexes in by_stream.items():
            stream = self._streams[shard]
            keys = [stream, f"tracker:{self.namespace}:{stream_tag(stream)}:"]
            for start in range(0, len(indexes), MAX_SCRIPT_ITEMS):
                chunk = indexes[start:start + MAX_SCRIPT_ITEMS]
                args: list[str | bytes] = [str(DEDUP_TTL)]
                for index in chunk:
                    args += list(items[index])
                answers = await self._script(keys=keys, args=args)
                for index, answer in zip(chunk, answers, strict=True):
                    outcomes[index] = _OUTCOMES[int(answer)]
        return outcomes

    async def seen(self, delivery: str) -> bool:
        """Whether a store's delivery with this id (platform, topic and the platform's id) was handled before."""
        return bool(await self._redis.exists(_DELIVERY_PREFIX + delivery))

    async def remember(self, delivery: str) -> None:
        """Marks a delivery handled; called after its conversions are recorded, so a failure in between only
        means the redelivery is checked conversion by conversion (and found to be duplicates)."""
        await self._redis.set(_DELIVERY_PREFIX + delivery, "1", ex=DELIVERY_TTL)


class MessageRecorder(ConversionRecorder):
    """Message events, once per identity (`Message.identity`): a provider's redelivered receipt counts once."""

    namespace = "msg"
    FINGERPRINT = "1"  # a message event has no amount: a repeat is always a duplicate

    async def record_messages(self, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """`items` are (identity, event JSON); True for new, False for a duplicate, in order."""
        outcomes = await self.record([(identity, self.FINGERPRINT, event) for identity, event in items])
        return [outcome == ACCEPTED for outcome in outcomes]

"""Links in Redis: one string key per link, sorted-set indexes for listing, a stream of changes.

Key layout (`link_key` is the only place a link's key is spelled):

- `sl:link:{<tag>}<domain>/<code>`: the link's JSON record. A link belongs to one short domain, so
  a vanity code can be taken on one domain and free on another. Generated codes come from one
  counter and are unique across all domains. `{<tag>}` is the hash tag of the event stream shard
  the link's clicks are appended to (`key_tags`, one per shard, picked by the code), so the edge's
  tap script reads the link and appends to the stream in one call, in one Redis Cluster slot.
- `sl:links:seq`: the counter. Every link, generated or vanity, takes a number from it: its
  place in the listing (newest first).
- `sl:links:index`: sorted set of `<domain>/<code>` scored by that number: the listing.
  `sl:links:by:campaign:<v>`, `sl:links:by:message:<v>`, `sl:links:by:tag:<v>`: the same for
  each label, so a filtered listing walks only its own links. A cursor is a score: pages
  are `ZREVRANGEBYSCORE` below it, so links created while someone pages (all scored higher)
  or deleted meanwhile never make a page repeat or skip another link.
- `sl:links:changes`: stream of `{domain, code}` for every change and delete; edges follow it
  to drop cached links within a second.
- `sl:links:layout`: "3:<number of key tags>" once `upgrade_layout` (idempotent, run at start) has
  moved every link of an older layout to its key: `sl:link:<code>` (layout 1, no domain: to the
  default domain), `sl:link:<domain>/<code>` (layout 2, no hash tag), or a tag of another number
  of stream shards (TRACKER_EVENT_STREAMS changed).

Every operation touches one key or pipelines single-key commands, so the same layout works on
Redis Cluster without cross-slot operations.
"""

from __future__ import annotations

import base64
import binascii
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError, ResponseError

from shortlinks.codes import CodeGenerator
from shortlinks.link import Link, LinkDraft
from shortlinks.redis_connection import AnyRedis

log = logging.getLogger("shortlinks.link_store")

LINK_PREFIX = "sl:link:"
COUNTER = "sl:links:seq"
CHANGES = "sl:links:changes"
INDEX = "sl:links:index"
INDEX_BY = "sl:links:by:"
LAYOUT = "sl:links:layout"
LAYOUT_VERSION = "3"
CHANGES_KEPT = 100_000
BATCH_PIPELINE = 1000
PAGE_READ = 1000  # index entries read per round trip while filling a page
PAGE_BUDGET = 20_000  # entries one page may examine for a `q` search before it answers with a cursor


def link_key(domain: str, code: str, tags: Sequence[str]) -> str:
    """The Redis key of the link `code` on the short domain `domain`, with its stream shard's hash tag."""
    tag = tags[zlib.crc32(code.encode()) % len(tags)] if len(tags) > 1 else tags[0] if tags else ""
    return f"{LINK_PREFIX}{tag}{domain}/{code}"


def _member(link: Link) -> str:
    return f"{link.domain}/{link.code}"


def _label_indexes(link: Link) -> list[str]:
    keys = [f"{INDEX_BY}campaign:{link.campaign}"] if link.campaign else []
    if link.message:
        keys.append(f"{INDEX_BY}message:{link.message}")
    return keys + [f"{INDEX_BY}tag:{tag}" for tag in link.tags]


class CodeCollision(RuntimeError):
    """A generated code already existed: the counter was reset under existing data."""


class CodeTaken(ValueError):
    """The vanity code is already a link on that domain."""


class CodeRefused(ValueError):
    """The vanity code is one our generator could produce, so it is not free to choose."""


class InvalidCursor(ValueError):
    """A cursor this store did not hand out."""


@dataclass(frozen=True, slots=True)
class LinkFilter:
    """What a listing keeps: exact campaign, message, tag and domain; `q` a substring of code or destination."""

    campaign: str = ""
    message: str = ""
    tag: str = ""
    domain: str = ""
    q: str = ""

    def indexes(self) -> list[str]:
        keys = [f"{INDEX_BY}campaign:{self.campaign}"] if self.campaign else []
        if self.message:
            keys.append(f"{INDEX_BY}message:{self.message}")
        if self.tag:
            keys.append(f"{INDEX_BY}tag:{self.tag}")
        return keys

    def keeps(self, link: Link) -> bool:
        q = self.q.lower()
        return (
            (not self.campaign or link.campaign == self.campaign)
            and (not self.message or link.message == self.message)
            and (not self.tag or self.tag in link.tags)
            and (not self.domain or link.domain == self.domain)
            and (not q or q in link.code.lower() or q in link.destination.lower())
        )


def encode_cursor(score: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{score}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor: not a cursor this API handed out") from None
    version, _, score = text.partition(":")
    if version != "v1" or not score.isdigit():
        raise InvalidCursor("cursor: not a cursor this API handed out")
    return int(score)


class LinkStore:
    def __init__(self, redis: AnyRedis, codes: CodeGenerator, default_domain: str, *, key_tags: Sequence[str]) -> None:
        """`key_tags`: the hash tags of the event stream shards; every process of a deployment gives the same."""
        self.redis = redis
        self.default_domain = default_domain
        self._codes = codes
        self._tags = tuple(key_tags)

    def link_key(self, domain: str, code: str) -> str:
        return link_key(domain, code, self._tags)

    async def create(self, draft: LinkDraft, now: datetime) -> Link:
        """Store one link: a generated code, or the draft's vanity code (CodeRefused, CodeTaken)."""
        if not draft.code:
            return (await self.create_many([draft], now))[0]
        if self._codes.counter_of(draft.code) is not None:
            raise CodeRefused(f"code: {draft.code!r} is in the range of generated codes; choose another")
        seq = await self.redis.incr(COUNTER)
        link = Link.from_draft(draft.code, draft, now, self.default_domain)
        if not await self.redis.set(self.link_key(link.domain, link.code), link.to_record(), nx=True):
            raise CodeTaken(f"code: {link.code!r} is taken on {link.domain}")
        await self._index([(link, seq)])
        return link

    async def create_many(self, drafts: Sequence[LinkDraft], now: datetime) -> list[Link]:
        """Store links with generated codes in input order: one INCRBY reserves every number, SETs go pipelined."""
        if not drafts:
            return []
        if any(d.code for d in drafts):
            raise ValueError("create_many makes generated codes only; create() takes a vanity code")
        last = await self.redis.incrby(COUNTER, len(drafts))
        first = last - len(drafts) + 1
        links = [Link.from_draft(self._codes.encode(first + i), d, now, self.default_domain)
                 for i, d in enumerate(drafts)]
        for start in range(0, len(links), BATCH_PIPELINE):
            chunk = links[start:start + BATCH_PIPELINE]
            async with self.redis.pipeline(transaction=False) as pipe:
                for link in chunk:
                    pipe.set(self.link_key(link.domain, link.code), link.to_record(), nx=True)
                results = await pipe.execute()
            if not all(results):
                raise CodeCollision("a generated short code already exists; is the counter key missing?")
            await self._index([(link, first + start + i) for i, link in enumerate(chunk)])
        return links

    async def _index(self, entries: Sequence[tuple[Link, int]]) -> None:
        all_links: dict[str, float] = {}
        by_label: dict[str, dict[str, float]] = {}
        for link, seq in entries:
            all_links[_member(link)] = seq
            for key in _label_indexes(link):
                by_label.setdefault(key, {})[_member(link)] = seq
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(INDEX, all_links)
            for key, members in by_label.items():
                pipe.zadd(key, members)
            await pipe.execute()

    async def get_record(self, code: str, domain: str | None = None) -> bytes | None:
        record: Any = await self.redis.get(self.link_key(domain or self.default_domain, code))
        return record if record is None else bytes(record)

    async def get(self, code: str, domain: str | None = None) -> Link | None:
        record = await self.get_record(code, domain)
        return None if record is None else Link.from_record(record)

    async def find(self, code: str, domains: Sequence[str]) -> Link | None:
        """The link `code` on the first of `domains` that has one (one pipelined round trip)."""
        return (await self.find_many([code], domains))[0]

    async def find_many(self, codes: Sequence[str], domains: Sequence[str]) -> list[Link | None]:
        """`find` for many codes, in input order (None where no domain has the code): pipelined, one round trip
        per batch."""
        found: list[Link | None] = []
        step = max(1, BATCH_PIPELINE // max(1, len(domains)))
        for start in range(0, len(codes), step):
            async with self.redis.pipeline(transaction=False) as pipe:
                for code in codes[start:start + step]:
                    for domain in domains:
                        pipe.get(self.link_key(domain, code))
                records = await pipe.execute()
            for i in range(0, len(records), len(domains)):
                record = next((r for r in records[i:i + len(domains)] if r is not None), None)
                found.append(None if record is None else Link.from_record(bytes(record)))
        return found

    async def save_change(self, link: Link) -> None:
        """Overwrite a link and announce the change to every edge."""
        await self.redis.set(self.link_key(link.domain, link.code), link.to_record(), xx=True)
        await self._announce(link)

    async def delete(self, link: Link) -> bool:
        """Remove a link and its index entries and tell the edges; False when it was already gone."""
        member = _member(link)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.link_key(link.domain, link.code))
            pipe.zrem(INDEX, member)
            for key in _label_indexes(link):
                pipe.zrem(key, member)
            results = await pipe.execute()
        await self._announce(link)
        return bool(results[0])

    async def _announce(self, link: Link) -> None:
        await self.redis.xadd(CHANGES, {"code": link.code, "domain": link.domain}, maxlen=CHANGES_KEPT,
                              approximate=True)

    async def page(self, where: LinkFilter, limit: int, cursor: str = "") -> tuple[list[Link], str | None]:
        """Up to `limit` links, newest first, below `cursor`; and the cursor of the next page (None: no more).

        A page walks the smallest index its filters allow. A `q` search may examine up to PAGE_BUDGET
        entries and then answer with fewer links and a cursor to carry on from.
        """
        index = await self._smallest(where.indexes())
        below = f"({decode_cursor(cursor)}" if cursor else "+inf"
        found: list[Link] = []
        examined = 0
        last: int | None = None
        while len(found) < limit and examined < PAGE_BUDGET:
            want = PAGE_READ if where.q or where.domain or len(where.indexes()) > 1 else limit - len(found)
            entries: list[Any] = await self.redis.zrevrangebyscore(index, below, "-inf", start=0, num=want,
                                                                   withscores=True)
            if not entries:
                return found, None
            links = await self._records([m.decode() if isinstance(m, bytes) else m for m, _ in entries])
            for (_, score), link in zip(entries, links, strict=True):
                examined += 1
                last = int(score)
                if link is not None and where.keeps(link):
                    found.append(link)
                    if len(found) == limit:
                        break
            below = f"({last}"
            if len(entries) < want and len(found) < limit:
                return found, None
        more = last is not None and await self.redis.zcount(index, "-inf", f"({last}") > 0
        return found, encode_cursor(last) if more and last is not None else None

    async def _smallest(self, keys: list[str]) -> str:
        if len(keys) <= 1:
            return keys[0] if keys else INDEX
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zcard(key)
            sizes = await pipe.execute()
        return min(zip(sizes, keys, strict=True))[1]

    async def _records(self, members: Sequence[str]) -> list[Link | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in members:
                domain, _, code = member.rpartition("/")
                pipe.get(self.link_key(domain, code))
            records = await pipe.execute()
        return [None if r is None else Link.from_record(r) for r in records]

    async def upgrade_layout(self) -> int:
        """Move every link of an older key layout to its key in this one; idempotent.

        Layout 1 (`sl:link:<code>`) links go to the default domain (and into the listing); layout 2
        (`sl:link:<domain>/<code>`) and links tagged for another number of stream shards get their tag.
        Run by the admin and the edge at start; concurrent runs are safe (each move is SET NX then DEL of
        the same record). Returns how many links this run moved.
        """
        layout = f"{LAYOUT_VERSION}:{len(self._tags)}".encode()
        if await self.redis.get(LAYOUT) == layout:
            return 0
        moved = 0
        async for key in self.redis.scan_iter(match=f"{LINK_PREFIX}*", count=1000):
            name = key.decode() if isinstance(key, bytes) else key
            rest = name[len(LINK_PREFIX):]
            first = "/" not in (rest[rest.index("}") + 1:] if rest.startswith("{") and "}" in rest else rest)
            record = await self.redis.get(name)
            if record is None:
                continue
            link = Link.from_record(record)
            if first:
                link = replace(link, domain=self.default_domain)
            target = self.link_key(link.domain, link.code)
            if target == name:
                continue
            if await self.redis.set(target, link.to_record(), nx=True):
                if first:
                    await self._index([(link, self._codes.counter_of(link.code) or 0)])
                moved += 1
            await self.redis.delete(name)
        await self.redis.set(LAYOUT, layout)
        return moved

    async def upgrade_layout_at_start(self) -> None:
        """`upgrade_layout` for a process that is starting: logged, and no reason to stop when Redis is away."""
        try:
            moved = await self.upgrade_layout()
        except (RedisError, OSError) as exc:
            log.warning("links of older key layouts not checked (%s); the next start moves them", exc)
            return
        if moved:
            log.info("moved %d links of older key layouts to their keys (default domain %s)", moved,
                     self.default_domain)

    async def last_change_id(self) -> str:
        """Where an edge starts following changes: the newest id, or '0-0' on an empty stream."""
        try:
            info = await self.redis.xinfo_stream(CHANGES)
        except ResponseError:  # no such key yet
            return "0-0"
        last = info["last-generated-id"]
        return last.decode() if isinstance(last, bytes) else str(last)

    async def changes_after(self, last_id: str, block_ms: int) -> tuple[str, list[tuple[str, str]]]:
        """Links changed after `last_id`, waiting up to `block_ms`: the new last id and (domain, code) pairs.

        The stream keeps the last 100,000 changes, far more than an edge that polls twice a
        second can fall behind; an edge that lost its connection drops its whole cache instead.
        """
        reply: Any = await self.redis.xread({CHANGES: last_id}, count=1000, block=block_ms)
        if not reply:
            return last_id, []
        entries = reply[0][1]
        return entries[-1][0].decode(), [
            (fields.get(b"domain", self.default_domain.encode()).decode(), fields[b"code"].decode())
            for _, fields in entries
        ]

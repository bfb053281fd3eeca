"""Prometheus series of every process, and the `/metrics` endpoint.

With several uvicorn workers, `tracker edge` points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before the workers start, so whichever worker answers `/metrics` reports the sum of all.
"""

from __future__ import annotations

import os
from bisect import bisect_left

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REDIRECTS = Counter("tracker_redirects", "Answers of the redirect endpoint, by HTTP status", ["status"])
REDIRECT_SECONDS = Histogram(
    "tracker_redirect_duration_seconds",
    "Server time of a redirect, from lookup to the response start (includes the ack wait)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
LINK_CACHE = Counter("tracker_link_cache_lookups", "Link cache lookups: hit, miss (Redis read) or stale", ["result"])
EVENTS_WRITTEN = Counter("tracker_events_written", "Click events written to the Redis stream")
EVENT_WRITE_ERRORS = Counter("tracker_event_write_errors", "Failed pipeline writes to the Redis stream (retried)")
EVENTS_UNCONFIRMED = Counter(
    "tracker_events_answered_unconfirmed",
    "ack-mode redirects answered before their event reached Redis (Redis failing; events kept for retry)",
)
EVENTS_DROPPED = Counter("tracker_events_dropped", "Events lost: not written by the shutdown deadline (must be 0)")
CONVERSIONS = Counter("tracker_conversions", "Conversions received, by source and result", ["source", "result"])
LOADER_ROWS = Counter("tracker_loader_rows_inserted", "Rows inserted into ClickHouse", ["table"])
LOADER_INSERT_ERRORS = Counter("tracker_loader_insert_errors", "Failed ClickHouse inserts (retried)")
LOADER_DEAD_LETTERS = Counter("tracker_loader_dead_letters", "Events that could not be parsed, kept in dead_letters")
STREAM_LENGTH = Gauge("tracker_stream_length", "Entries in the event stream", ["stream"], multiprocess_mode="max")
STREAM_PENDING = Gauge(
    "tracker_stream_consumer_lag",
    "Entries of the stream not yet loaded into ClickHouse (unread plus read but unacknowledged)",
    ["stream"],
    multiprocess_mode="max",
)


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


async def metrics_endpoint(request: Request) -> Response:
    return Response(render(), media_type=CONTENT_TYPE_LATEST)


def metrics_routes() -> list[Route]:
    return [Route("/metrics", metrics_endpoint, methods=["GET"])]


class HotPathTally:
    """Counts of the redirect path kept in plain ints, moved into the Prometheus series by `flush()`.

    A Prometheus counter takes a lock per increment and a histogram walks its buckets per
    observation: several microseconds on a path that aims at a few. The edge calls `flush()`
    on a one-second tick (and at shutdown), so /metrics lags by at most a second.
    """

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {302: 0, 404: 0, 503: 0}
        self.cache: dict[str, int] = {"hit": 0, "miss": 0, "stale": 0}
        self._bounds = REDIRECT_SECONDS._upper_bounds
        self._buckets = [0] * len(self._bounds)
        self._seconds = 0.0

    def observe(self, seconds: float) -> None:
        self._buckets[bisect_left(self._bounds, seconds)] += 1
        self._seconds += seconds

    def flush(self) -> None:
        for status, count in self.statuses.items():
            if count:
                REDIRECTS.labels(str(status)).inc(count)
                self.statuses[status] = 0
        for result, count in self.cache.items():
            if count:
                LINK_CACHE.labels(result).inc(count)
                self.cache[result] = 0
        for index, count in enumerate(self._buckets):
            if count:
                REDIRECT_SECONDS._buckets[index].inc(count)
                self._buckets[index] = 0
        if self._seconds:
            REDIRECT_SECONDS._sum.inc(self._seconds)
            self._seconds = 0.0

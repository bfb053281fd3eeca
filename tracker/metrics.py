"""Prometheus series of every process, and the `/metrics` endpoint.

The edge counts its hot path in plain ints first (tracker.edge.tally) and adds them here once a second.
The edge's series are served on `--metrics-port` (default 9108, loopback) by `serve_metrics`, never on its
public port; the admin and the loader serve `/metrics` among their own (internal) routes.

With several uvicorn workers, `tracker edge` points PROMETHEUS_MULTIPROC_DIR at a fresh folder
before the workers start, so whichever worker answers `/metrics` reports the sum of all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REDIRECTS = Counter("tracker_redirects", "Answers of the redirect endpoint, by HTTP status", ["status"])
REDIRECT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
REDIRECT_SECONDS = Histogram(
    "tracker_redirect_duration_seconds",
    "Server time of a redirect, from lookup to the response start (includes the ack wait)",
    buckets=REDIRECT_BUCKETS,
)
LINK_CACHE = Counter("tracker_link_cache_lookups", "Link cache lookups: hit, miss (Redis read) or stale", ["result"])
EVENTS_WRITTEN = Counter("tracker_events_written", "Click events written to the Redis stream")
EVENT_WRITE_ERRORS = Counter("tracker_event_write_errors", "Failed pipeline writes to the Redis stream (retried)")
EVENTS_DROPPED = Counter("tracker_events_dropped", "Events lost: not written by the shutdown deadline (must be 0)")
EVENTS_SPILLED = Counter("tracker_events_spilled", "Click events written to the edge's spill log while Redis failed")
EVENTS_REPLAYED = Counter("tracker_events_replayed", "Spilled click events replayed into the Redis stream")
EVENTS_REFUSED = Counter(
    "tracker_events_refused",
    "Click events neither Redis nor the spill log took (spill full or disk error): ack taps got a 503",
)
CONVERSIONS = Counter("tracker_conversions", "Conversions received, by source and result", ["source", "result"])
STORE_HOOKS = Counter(
    "tracker_store_hook_deliveries",
    "Deliveries of the store webhooks, by platform and result (recorded, duplicate, ignored with its reason, "
    "unauthorized, ping, unavailable)",
    ["platform", "result", "reason"],
)
MESSAGES = Counter(
    "tracker_messages",
    "Message events received (POST /v1/messages, Twilio and Telnyx receipts), by source and result",
    ["source", "result"],
)
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


def add_redirect_durations(bucket_counts: Sequence[int], seconds: float) -> None:
    """Add many observations to REDIRECT_SECONDS at once: `bucket_counts[i]` fell in bucket i (the last one is
    +Inf), `seconds` is their sum.

    prometheus_client has no public call for this, and observing each one again would cost what the tally saves,
    so this is the one place that reaches into a histogram's internals (the same in multiprocess mode, where
    those values are the mmapped files /metrics sums).
    """
    buckets = REDIRECT_SECONDS._buckets  # noqa: SLF001 - see the docstring
    for index, count in enumerate(bucket_counts):
        if count:
            buckets[index].inc(count)
    if seconds:
        REDIRECT_SECONDS._sum.inc(seconds)  # noqa: SLF001


def registry() -> CollectorRegistry:
    """This process's series, or with PROMETHEUS_MULTIPROC_DIR set (`tracker edge --workers N`) every worker's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return merged
    return REGISTRY


def render() -> bytes:
    return generate_latest(registry())


def serve_metrics(host: str, port: int) -> None:
    """`/metrics` on a port of its own, in a daemon thread: the edge's, which its public port never serves.

    In the `tracker edge --workers N` supervisor it reports the sum of the workers. Check the port first
    (tracker.startup.port_free): a port in use raises OSError here.
    """
    start_http_server(port, host, registry=registry())


async def metrics_endpoint(request: Request) -> Response:
    return Response(render(), media_type=CONTENT_TYPE_LATEST)


def metrics_routes() -> list[Route]:
    return [Route("/metrics", metrics_endpoint, methods=["GET"])]

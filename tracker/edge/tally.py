"""The redirect path's counts, kept in plain ints and moved into the Prometheus series once a second."""

from __future__ import annotations

from bisect import bisect_left

from tracker.metrics import LINK_CACHE, REDIRECT_BUCKETS, REDIRECTS, add_redirect_durations


class HotPathTally:
    """Counts of the redirect path kept in plain ints, moved into the Prometheus series by `flush()`.

    A Prometheus counter takes a lock per increment and a histogram walks its buckets per
    observation: several microseconds on a path that aims at a few. The edge calls `flush()`
    on a one-second tick (and at shutdown), so /metrics lags by at most a second.
    """

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {302: 0, 404: 0, 503: 0}
        self.cache: dict[str, int] = {"hit": 0, "miss": 0, "stale": 0}
        self._bounds = REDIRECT_BUCKETS
        self._buckets = [0] * (len(self._bounds) + 1)  # the last one is +Inf
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
        add_redirect_durations(self._buckets, self._seconds)
        self._buckets = [0] * len(self._buckets)
        self._seconds = 0.0

"""What a Locust run measured, and whether it met the service level objectives.

Counts and failures come from Locust's `--json-file` (aggregated over all its processes); the redirect's
percentiles from the locustfile's own 0.1 ms histograms (Locust rounds below 100 ms to whole milliseconds,
too coarse for a sub-millisecond server), merged over processes. Percentiles are the upper edge of their
bucket, so they never flatter.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REDIRECT = "/{code}"
PIXEL = "/px.gif"


@dataclass(frozen=True)
class Thresholds:
    max_failure_pct: float = 0.1
    max_p50_ms: float = 10.0
    max_p99_ms: float = 50.0


@dataclass(frozen=True)
class LoadFigures:
    requests: int
    failures: int
    redirects: int
    redirect_failures: int
    pixels: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def failure_pct(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0

    @property
    def redirects_per_s(self) -> float:
        return self.redirects / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    ok: bool


def merge_histograms(paths: list[Path]) -> tuple[float, Counter[int]]:
    counts: Counter[int] = Counter()
    bucket_ms = 0.1
    for path in paths:
        data = json.loads(path.read_text())
        bucket_ms = float(data["bucket_ms"])
        counts.update({int(bucket): int(n) for bucket, n in data["counts"].items()})
    return bucket_ms, counts


def percentile(bucket_ms: float, counts: Counter[int], fraction: float) -> float:
    """The upper edge of the bucket holding the `fraction` quantile; 0 for an empty histogram."""
    total = sum(counts.values())
    if not total:
        return 0.0
    rank = fraction * total
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return round((bucket + 1) * bucket_ms, 3)
    return round((max(counts) + 1) * bucket_ms, 3)


def read_failures(failures_csv: Path) -> dict[str, int]:
    """Locust's `{prefix}_failures.csv`: "METHOD name: error" -> occurrences."""
    if not failures_csv.exists():
        return {}
    with failures_csv.open(newline="") as handle:
        return {f"{row['Method']} {row['Name']}: {row['Error']}": int(row["Occurrences"])
                for row in csv.DictReader(handle)}


def read_figures(stats_json: Path, latency_files: list[Path], failures_csv: Path) -> LoadFigures:
    entries: list[dict[str, Any]] = json.loads(stats_json.read_text())
    redirects = [e for e in entries if e["name"] == REDIRECT]
    starts = [e["start_time"] for e in entries if e["num_requests"]]
    ends = [e["last_request_timestamp"] for e in entries if e["num_requests"] and e["last_request_timestamp"]]
    bucket_ms, counts = merge_histograms(latency_files)
    return LoadFigures(
        requests=sum(e["num_requests"] for e in entries),
        failures=sum(e["num_failures"] for e in entries),
        redirects=sum(e["num_requests"] for e in redirects),
        redirect_failures=sum(e["num_failures"] for e in redirects),
        pixels=sum(e["num_requests"] for e in entries if e["name"] == PIXEL),
        seconds=max(ends) - min(starts) if starts and ends else 0.0,
        p50_ms=percentile(bucket_ms, counts, 0.50),
        p99_ms=percentile(bucket_ms, counts, 0.99),
        max_ms=percentile(bucket_ms, counts, 1.0),
        errors=read_failures(failures_csv),
    )


def evaluate(figures: LoadFigures, limits: Thresholds) -> list[Check]:
    return [
        Check("redirects answered", figures.redirects - figures.redirect_failures, 1,
              figures.redirects - figures.redirect_failures >= 1),
        Check("failure rate %", round(figures.failure_pct, 4), limits.max_failure_pct,
              figures.failure_pct <= limits.max_failure_pct),
        Check("redirect p50 ms", figures.p50_ms, limits.max_p50_ms, figures.p50_ms <= limits.max_p50_ms),
        Check("redirect p99 ms", figures.p99_ms, limits.max_p99_ms, figures.p99_ms <= limits.max_p99_ms),
    ]

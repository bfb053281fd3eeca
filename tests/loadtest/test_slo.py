"""Percentiles of the redirect histogram and the SLO verdicts."""

from __future__ import annotations

from collections import Counter

from loadtest.slo import LoadFigures, Thresholds, evaluate, percentile


def figures(**overrides: object) -> LoadFigures:
    base: dict[str, object] = dict(requests=1000, failures=0, redirects=900, redirect_failures=0, pixels=50,
                                   seconds=10.0, p50_ms=1.0, p99_ms=5.0, max_ms=9.0, errors={})
    return LoadFigures(**{**base, **overrides})  # type: ignore[arg-type]


def test_a_percentile_is_the_upper_edge_of_its_bucket_so_it_never_flatters() -> None:
    counts = Counter({5: 98, 40: 1, 200: 1})  # 0.1 ms buckets: 0.5-0.6 ms, 4.0-4.1 ms, 20.0-20.1 ms

    assert percentile(0.1, counts, 0.50) == 0.6
    assert percentile(0.1, counts, 0.99) == 4.1
    assert percentile(0.1, counts, 1.0) == 20.1
    assert percentile(0.1, Counter(), 0.99) == 0.0


def test_a_run_within_every_limit_passes() -> None:
    assert all(check.ok for check in evaluate(figures(), Thresholds()))


def test_failures_above_the_limit_and_a_slow_tail_fail_their_checks() -> None:
    checks = {c.name: c.ok for c in evaluate(figures(failures=10, p99_ms=80.0), Thresholds(max_failure_pct=0.1))}

    assert checks == {"redirects answered": True, "failure rate %": False, "redirect p50 ms": True,
                      "redirect p99 ms": False}


def test_a_run_that_answered_no_redirect_fails_even_with_no_failures() -> None:
    checks = {c.name: c.ok for c in evaluate(figures(redirects=0, requests=0), Thresholds())}

    assert checks["redirects answered"] is False

"""`ReportQuery.from_params`: the report's query string parsed once, defaults filled in, every refusal named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.reports.query import InvalidReport, ReportQuery

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_defaults_are_the_last_30_days_by_campaign_last_click_per_channel_windows() -> None:
    query = ReportQuery.from_params({}, NOW)
    assert (query.start, query.end) == (NOW - timedelta(days=30), NOW)
    assert (query.group_by, query.model, query.window, query.currency, query.exclude_tags) == (
        ("campaign",), "last_click", None, None, ())


def test_a_date_to_is_inclusive_and_datetimes_are_utc() -> None:
    query = ReportQuery.from_params({"from": "2026-11-01", "to": "2026-11-30"}, NOW)
    assert (query.start, query.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    query = ReportQuery.from_params({"from": "2026-11-01T10:00:00", "to": "2026-11-02T10:00:00+02:00"}, NOW)
    assert (query.start, query.end) == (datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 2, 8, tzinfo=UTC))
    query = ReportQuery.from_params({"to": "2026-11-02T00:00:00.123456Z"}, NOW)
    assert query.end == datetime(2026, 11, 2, 0, 0, 0, 123000, tzinfo=UTC)
    assert query.start == query.end - timedelta(days=30)


def test_parameters_are_normalised() -> None:
    query = ReportQuery.from_params(
        {"group_by": " Channel , day", "model": "linear", "window": "36h", "currency": " eur ",
         "exclude_tags": "Test, Black Friday ,,test", "format": "csv", "from": ""}, NOW)
    assert (query.group_by, query.window, query.currency) == (("channel", "day"), 36 * 3600, "EUR")
    assert query.exclude_tags == ("test", "black_friday")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"group_by": "campaign,foo"}, "group_by: unknown key 'foo'; expected channel, source, medium, campaign"),
        ({"group_by": "campaign,campaign"}, "group_by: 'campaign' given twice"),
        ({"group_by": "campaign,"}, "group_by: unknown key ''"),
        ({"model": "time_decay"}, "model: unknown model 'time_decay'; expected last_click, first_click, linear"),
        ({"window": "7 days"}, "window: expected a number and a unit s, m, h or d"),
        ({"window": "0d"}, "window: expected a number"),
        ({"window": "9999d"}, "window: at most 3650d"),
        ({"currency": "EURO"}, "currency: 'EURO' is not an ISO 4217 currency code"),
        ({"currency": "XYZ"}, "currency: 'XYZ' is not an ISO 4217 currency code"),
        ({"currency": "xxx"}, "currency: XXX is an ISO 4217 code but not a currency a payment is made in"),
        ({"currency": "XTS"}, "currency: XTS is an ISO 4217 code but not a currency a payment is made in"),
        ({"currency": "XAU"}, "currency: XAU is an ISO 4217 code but not a currency a payment is made in"),
        ({"from": "yesterday"}, "from: expected an ISO date"),
        ({"to": "2026-13-01"}, "to: expected an ISO date"),
        ({"from": "1999-12-31"}, "from: out of range"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from: must be before to"),
        ({"from": "2026-11-01T10:00:00Z", "to": "2026-11-01T10:00:00Z"}, "from: must be before to"),
        ({"groupby": "campaign"}, "unknown parameter 'groupby'; expected from, to, group_by"),
        ({"exclude_tags": "a\x00b"}, "exclude_tags: contains control characters"),
        ({"exclude_tags": "x" * 1001}, "exclude_tags: longer than 1000 characters"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_parameter(params: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidReport) as refused:
        ReportQuery.from_params(params, NOW)
    assert str(refused.value).startswith(message)

"""A report request, parsed once: `ReportQuery.from_params` validates the query string of
`GET /v1/reports/campaigns` (and of the dashboard's filters) into a frozen value, or refuses it with an
`InvalidReport` whose one-line message starts with the parameter's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shortlinks.utm import InvalidUtm, normalise_utm_value
from tracker.money import NOT_MONEY, PAYMENT_CURRENCIES
from tracker.reports.attribution import MODELS
from tracker.settings import parse_view_window, parse_window

GROUP_KEYS: tuple[str, ...] = (
    "channel", "source", "medium", "campaign", "message", "content", "term", "day",
    "code", "domain", "device_type", "os", "browser",
)
PARAMETERS: tuple[str, ...] = (
    "from", "to", "group_by", "model", "window", "currency", "exclude_tags", "view_window", "format",
)
DEFAULT_PERIOD = timedelta(days=30)
MAX_PARAMETER_LENGTH = 1000
MAX_EXCLUDE_TAGS = 50
MAX_WINDOW = 3650 * 86400  # ten years: longer is a typo, and it would make every report scan all history
MIN_YEAR, MAX_YEAR = 2000, 2199  # events before 2000 are refused at the door; DateTime64 ends in 2299


class InvalidReport(ValueError):
    """A report parameter we refuse; the one-line message starts with the parameter's name."""


@dataclass(frozen=True)
class ReportQuery:
    """What a report is asked for, validated. `end` is exclusive; `window` and `view_window` None mean the
    per-channel windows of the settings; a `view_window` of 0 turns view-through off."""

    start: datetime
    end: datetime
    group_by: tuple[str, ...] = ("campaign",)
    model: str = "last_click"
    window: int | None = None
    currency: str | None = None
    exclude_tags: tuple[str, ...] = ()
    view_window: int | None = None


    def csv_filename(self, report: str) -> str:
        """`<report>_<first day>_<last day>.csv`, both days inclusive as the "From" and "To" fields read them: a
        date `to` ends at the next midnight, so the last day is the one before that (exclusive) end."""
        last = self.end - timedelta(milliseconds=1)
        return f"{report}_{self.start:%Y%m%d}_{last:%Y%m%d}.csv"

    @classmethod
    def from_params(cls, params: Mapping[str, str], now: datetime) -> ReportQuery:
        """Parse the query string once. An empty value counts as absent: HTML forms send empty fields.

        `format` is accepted and left to the endpoint; any other unknown parameter is refused, so a typo
        (`groupby=`) does not silently give the default report.
        """
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise InvalidReport(f"unknown parameter {unknown[0][:40]!r}; expected {', '.join(PARAMETERS)}")
        values: dict[str, str] = {}
        for name in PARAMETERS:
            value = params.get(name)
            if value is None:
                continue
            if len(value) > MAX_PARAMETER_LENGTH:
                raise InvalidReport(f"{name}: longer than {MAX_PARAMETER_LENGTH} characters")
            if value.strip():
                values[name] = value.strip()

        now = _utc(now)
        end = _parse_instant("to", values["to"], is_end=True) if "to" in values else _truncate_ms(now)
        start = _parse_instant("from", values["from"], is_end=False) if "from" in values else end - DEFAULT_PERIOD
        if start >= end:
            raise InvalidReport("from: must be before to")
        return cls(
            start=start,
            end=end,
            group_by=_parse_group_by(values.get("group_by", "campaign")),
            model=_parse_model(values.get("model", "last_click")),
            window=_parse_window(values["window"]) if "window" in values else None,
            currency=_parse_currency(values["currency"]) if "currency" in values else None,
            exclude_tags=_parse_tags(values.get("exclude_tags", "")),
            view_window=_parse_window(values["view_window"], "view_window") if "view_window" in values else None,
        )


def _parse_instant(name: str, text: str, *, is_end: bool) -> datetime:
    """ISO date or date-time; naive means UTC. A date `to` is inclusive: it ends at the next midnight."""
    problem = f"{name}: expected an ISO date (2026-11-01) or date-time (2026-11-01T12:30:00Z), got {text[:40]!r}"
    try:
        if not any(mark in text for mark in "T t:"):
            day = date.fromisoformat(text)
            parsed = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1 if is_end else 0)
        else:
            parsed = _utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        raise InvalidReport(problem) from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InvalidReport(f"{name}: out of range (years {MIN_YEAR} to {MAX_YEAR})")
    return _truncate_ms(parsed)


def _parse_group_by(text: str) -> tuple[str, ...]:
    keys: list[str] = []
    for raw in text.split(","):
        key = raw.strip().lower()
        if key not in GROUP_KEYS:
            raise InvalidReport(f"group_by: unknown key {raw.strip()[:40]!r}; expected {', '.join(GROUP_KEYS)}")
        if key in keys:
            raise InvalidReport(f"group_by: {key!r} given twice")
        keys.append(key)
    return tuple(keys)


def _parse_model(text: str) -> str:
    if text not in MODELS:
        raise InvalidReport(f"model: unknown model {text[:40]!r}; expected {', '.join(MODELS)}")
    return text


def _parse_window(text: str, name: str = "window") -> int:
    """`window`, or `view_window`, which also takes 0 (off)."""
    try:
        seconds = parse_view_window(text) if name == "view_window" else parse_window(text)
    except ValueError as exc:
        raise InvalidReport(f"{name}: {exc}") from None
    if seconds > MAX_WINDOW:
        raise InvalidReport(f"{name}: at most {MAX_WINDOW // 86400}d")
    return seconds


def _parse_currency(text: str) -> str:
    """A currency conversions can be recorded in: no report is ever in XXX, XTS or gold, so asking for one is a
    mistake to name, not an empty report."""
    code = text.upper()
    if code in NOT_MONEY:
        raise InvalidReport(f"currency: {code} is an ISO 4217 code but not a currency a payment is made in, so no "
                            "conversion is ever recorded in it; use the orders' currency, like USD or EUR")
    if code not in PAYMENT_CURRENCIES:
        raise InvalidReport(f"currency: {text[:40]!r} is not an ISO 4217 currency code")
    return code


def _parse_tags(text: str) -> tuple[str, ...]:
    """Normalised like link tags are when a link is created (trimmed, lower-case, spaces -> '_')."""
    tags: list[str] = []
    for raw in text.split(","):
        try:
            tag = normalise_utm_value(raw)
        except InvalidUtm as exc:
            raise InvalidReport(f"exclude_tags: {exc}") from None
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_EXCLUDE_TAGS:
        raise InvalidReport(f"exclude_tags: at most {MAX_EXCLUDE_TAGS}")
    return tuple(tags)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _truncate_ms(moment: datetime) -> datetime:
    """Events are stored to the millisecond; so are the bounds, so what the JSON shows is what was queried."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

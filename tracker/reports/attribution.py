"""Attribution: which human clicks a purchase is credited to, computed in ClickHouse when a report is asked for.

Nothing about credit is stored: the window, the model and the excluded tags are parameters of the query, so a
marketer can change them after the fact and every past sale is credited again under the new rules.

The rules (SPEC section 7), in the order the query applies them:

1. Dedup. A click_id stored twice is one click; a conversion sent twice is one conversion per (order_id,
   type): the earliest row counts (copies within the same millisecond are the same call sent twice: any one
   stands for them), so a pixel that fires again on a reload neither moves the sale nor counts twice.
2. Purchases: type `purchase`, ts in [start, end), in the report currency.
3. Eligible clicks for a purchase P: human (never a bot), on a link carrying no excluded tag, and
   P.ts - window(click.channel) <= click.ts <= P.ts. The click may be before the report's start.
4. Candidates: the eligible click with P's click_id if there is one; else the eligible clicks of P's
   recipient. P's recipient is its own recipient_ref, else that of the click its click_id names, whichever
   click that is (even a bot or an old one): a cookie set weeks ago still tells us who the buyer is, and
   their recent tap on another device gets the credit. An empty recipient never matches anything.
5. Credit: `last_click` the latest candidate (ties: greatest click_id), `first_click` the earliest (ties:
   smallest click_id), `linear` each of the n candidates 1/n. A purchase without candidates is unattributed.
6. A refund (type `refund`, any ts) of a credited order is credited like its purchase, in the same shares,
   when its (deduplicated, so earliest) row is in the report currency.

The credit query returns sums per group and per n (the number of clicks sharing a purchase): the division by
n happens once per group, in exact rational arithmetic (reports.py), so a linear split never loses or
invents a fraction of a cent, and ClickHouse only ever adds Decimals.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracker.settings import Settings

MODELS: tuple[str, ...] = ("last_click", "first_click", "linear")

# Purchases of the report, each order once. Only orders with a purchase row inside the range are grouped, and
# rows at or after `end` cannot be the earliest of such an order, so the dedup reads a small slice of the table.
PURCHASES_SQL = """
    SELECT order_id, first_ts AS ts, kept.1 AS currency, kept.2 AS value, kept.3 AS click_id,
           kept.4 AS recipient_ref
    FROM (
        SELECT order_id, min(ts) AS first_ts, argMin((currency, value, click_id, recipient_ref), ts) AS kept
        FROM conversions
        WHERE type = 'purchase' AND ts < {end:DateTime64(3, 'UTC')}
          AND order_id IN (
              SELECT order_id FROM conversions
              WHERE type = 'purchase' AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
          )
        GROUP BY order_id
    )
    WHERE first_ts >= {start:DateTime64(3, 'UTC')}
"""

# Orders, money and refunds per (group, n); the caller divides by n. Placeholders in <...> are filled from
# fixed tables (never from user input): <window> the per-channel window expression, <click_columns> and
# <group_columns> the group keys. Every value is a bound {name:Type} parameter.
_CREDIT_SQL = """
WITH
purchases AS (
    SELECT * FROM (<purchases>) WHERE currency = {currency:String} AND currency != ''
),
period_rows AS (
    -- Raw purchase rows of the period, a superset of `purchases`. The two lookups below filter by it rather
    -- than by `purchases` because ClickHouse evaluates a CTE again at every reference, and the dedup is dearer.
    SELECT order_id, click_id, recipient_ref FROM conversions
    WHERE type = 'purchase' AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
),
named_clicks AS (
    -- The recipient of the click a purchase names, for purchases that carry no recipient of their own.
    SELECT click_id, max(recipient_ref) AS recipient_ref
    FROM clicks
    WHERE click_id IN (SELECT click_id FROM period_rows WHERE click_id != '' AND recipient_ref = '')
    GROUP BY click_id
),
match_keys AS (
    -- Two ways to find a purchase's clicks: via 0 = its click_id, via 1 = its recipient.
    SELECT order_id, ts, value, m.1 AS via, m.2 AS match_key
    FROM (
        SELECT p.order_id AS order_id, p.ts AS ts, p.value AS value, p.click_id AS click_id,
               if(p.recipient_ref != '', p.recipient_ref, ifNull(n.recipient_ref, '')) AS buyer
        FROM purchases AS p
        LEFT JOIN named_clicks AS n ON n.click_id = p.click_id
    )
    ARRAY JOIN arrayFilter(x -> x.2 != '', [(toUInt8(0), click_id), (toUInt8(1), buyer)]) AS m
),
eligible AS (
    SELECT click_id, ts<click_columns>, <window> AS window_s, k.1 AS via, k.2 AS match_key
    FROM clicks
    ARRAY JOIN arrayFilter(x -> x.2 != '', [(toUInt8(0), click_id), (toUInt8(1), recipient_ref)]) AS k
    WHERE ts >= {scan_from:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
      AND NOT is_bot AND NOT hasAny(tags, {excluded:Array(String)})
),
candidates AS (
    SELECT p.order_id AS order_id, p.ts AS purchase_ts, p.value AS value, p.via AS via,
           e.click_id AS click_id, e.ts AS click_ts<candidate_columns>
    FROM eligible AS e
    INNER JOIN match_keys AS p ON p.via = e.via AND p.match_key = e.match_key
    WHERE e.ts <= p.ts
      AND toUnixTimestamp64Milli(e.ts) >= toUnixTimestamp64Milli(p.ts) - toInt64(e.window_s) * 1000
    LIMIT 1 BY order_id, via, click_id
),
chosen AS (
    -- A click-id match, when there is one, beats every recipient match.
    SELECT *, count() OVER (PARTITION BY order_id) AS n, <rank> AS credit_rank
    FROM (SELECT *, min(via) OVER (PARTITION BY order_id) AS best_via FROM candidates)
    WHERE via = best_via
),
credited AS (
    SELECT * FROM chosen WHERE credit_rank = 1
),
refunds AS (
    SELECT order_id, kept.2 AS value
    FROM (
        SELECT order_id, argMin((currency, value), ts) AS kept
        FROM conversions
        WHERE type = 'refund' AND order_id IN (SELECT order_id FROM period_rows)
        GROUP BY order_id
    )
    WHERE kept.1 = {currency:String}
)
SELECT <group_columns>, <share> AS share, count() AS credits,
       toDecimal128(sum(c.value), 4) AS value_sum, toDecimal128(sum(ifNull(r.value, 0)), 4) AS refund_sum
FROM credited AS c
LEFT JOIN refunds AS r ON r.order_id = c.order_id
GROUP BY <group_names>, share
"""

# The one credited click of a purchase has rank 1; under linear every candidate has.
_RANKS = {
    "last_click": "row_number() OVER (PARTITION BY order_id ORDER BY click_ts DESC, click_id DESC)",
    "first_click": "row_number() OVER (PARTITION BY order_id ORDER BY click_ts ASC, click_id ASC)",
    "linear": "toUInt64(1)",
}
# Under last/first click a purchase has one credited click: its whole value goes there.
_SHARES = {"last_click": "toUInt64(1)", "first_click": "toUInt64(1)", "linear": "c.n"}


def window_sql(window: int | None, settings: Settings) -> tuple[str, dict[str, object], int]:
    """The SQL of a click's window in seconds, its parameters, and the longest window (how far back to scan).

    With a `window` override every channel gets it; otherwise `Settings.window_for` rules, as a multiIf on the
    lower-cased channel (window_for lower-cases too) whose branches are bound parameters.
    """
    if window is not None:
        return "{window_default:UInt64}", {"window_default": window}, window
    params: dict[str, object] = {"window_default": settings.attribution_window}
    branches: list[str] = []
    for i, (channel, seconds) in enumerate(sorted(settings.channel_windows.items())):
        branches.append(f"lower(channel) = {{window_channel_{i}:String}}, {{window_{i}:UInt64}}")
        params[f"window_channel_{i}"] = channel
        params[f"window_{i}"] = seconds
    longest = max([settings.attribution_window, *settings.channel_windows.values()])
    if not branches:
        return "{window_default:UInt64}", params, longest
    return f"multiIf({', '.join(branches)}, {{window_default:UInt64}})", params, longest


def credit_sql(model: str, click_keys: Sequence[tuple[str, str]], group_keys: Sequence[str], window: str) -> str:
    """The credit query for `model`, grouped by `group_keys`.

    `click_keys` are (name, column) of the non-day keys, read from the credited click; `day` is the purchase's
    day. All names come from the fixed GROUP_KEYS table, never from the request.
    """
    click_columns = "".join(f", {column}" for _, column in click_keys)
    candidate_columns = "".join(f", toString(e.{column}) AS k_{name}" for name, column in click_keys)
    group_columns = ", ".join(
        "toString(toDate(c.purchase_ts)) AS g_day" if key == "day" else f"c.k_{key} AS g_{key}" for key in group_keys
    )
    sql = _CREDIT_SQL
    for placeholder, text in (
        ("<purchases>", PURCHASES_SQL),
        ("<window>", window),
        ("<click_columns>", click_columns),
        ("<candidate_columns>", candidate_columns),
        ("<rank>", _RANKS[model]),
        ("<share>", _SHARES[model]),
        ("<group_columns>", group_columns),
        ("<group_names>", ", ".join(f"g_{key}" for key in group_keys)),
    ):
        sql = sql.replace(placeholder, text)
    return sql


def describe_duration(seconds: int) -> str:
    """604800 -> '7 days', 86400 -> '1 day', 5400 -> '90 minutes': the largest unit that divides exactly."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    raise AssertionError("unreachable: every whole number of seconds divides by 1")


def _channel_label(channel: str) -> str:
    return channel.upper() if len(channel) <= 3 else channel.capitalize()


def formula(model: str, currency: str, window: int | None, settings: Settings, exclude_tags: Sequence[str]) -> str:
    """One sentence saying how a sale was credited, for the report's readers (and the docs, which quote it)."""
    subject = f"A purchase in {currency}" if currency else "A purchase"
    verb = {
        "last_click": "is credited to the last human click",
        "first_click": "is credited to the first human click",
        "linear": "is split equally between the human clicks",
    }[model]
    if window is not None:
        within = describe_duration(window)
    else:
        within = describe_duration(settings.attribution_window)
        per_channel = [
            f"{_channel_label(channel)}: {describe_duration(seconds)}"
            for channel, seconds in sorted(settings.channel_windows.items())
        ]
        if per_channel:
            within += f" ({', '.join(per_channel)})"
    never = "bot clicks"
    if exclude_tags:
        never += f" and links tagged {' or '.join(exclude_tags)}"
    return (
        f"{subject} {verb} on the same click id, else by the same recipient, within {within} before it; "
        f"{never} are never credited."
    )

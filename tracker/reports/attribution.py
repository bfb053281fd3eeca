"""Attribution: which human clicks (or delivered message) a purchase, a micro conversion or a subscription is
credited to, computed in ClickHouse when a report is asked for.

Nothing about credit is stored: the window, the model and the excluded tags are parameters of the query, so a
marketer can change them after the fact and every past sale is credited again under the new rules.

The rules (SPEC section 7), in the order the query applies them:

1. Dedup. A click_id stored twice is one click; a conversion sent twice is one conversion per (order_id,
   type): the earliest row counts (copies within the same millisecond are the same call sent twice: any one
   stands for them), so a pixel that fires again on a reload neither moves the sale nor counts twice.
2. Credited conversions (called P, "the purchase", below): types `purchase`, `add_to_cart`, `checkout`,
   `signup`, `lead` and `subscription`, ts in [start, end), in the report currency; a micro conversion or
   subscription without a currency (no value) counts in every currency's report. Each is credited by the
   rules below, on its own: a checkout and the purchase of one order are two conversions.
3. Eligible clicks for a purchase P: human (never a bot), on a link carrying no excluded tag, and
   P.ts - window(click.channel) <= click.ts <= P.ts. The click may be before the report's start.
4. Candidates: the eligible click with P's click_id if there is one; else the eligible clicks of P's
   recipient. P's recipient is its own recipient_ref, else that of the click its click_id names, whichever
   click that is (even a bot or an old one): a cookie set weeks ago still tells us who the buyer is, and
   their recent tap on another device gets the credit. An empty recipient never matches anything.
5. View-through, only when the view window is on: a purchase with no candidate click at all gets one
   candidate, the buyer's (rule 4's recipient) last message delivered or read in
   [P.ts - view_window(message.channel), P.ts], on a message carrying no excluded tag (ties: greatest
   message_id). Click credit always wins: a message is never a candidate next to a click.
6. Credit: `last_click` the latest candidate (ties: greatest click_id), `first_click` the earliest (ties:
   smallest click_id), `linear` each of the n candidates 1/n; a view-through credit is whole under every model.
   A purchase without candidates is unattributed.
7. A refund (type `refund`, any ts) of a credited order is credited like its purchase, in the same shares
   (clicks or message), when its (deduplicated, so earliest) row is in the report currency. A store refunds an
   order in parts: each part (refund_id) counts once, and the parts together never more than the purchase (a
   cancelled or refunded order's rest and the refund records the store adds for it may describe the same money).
8. A renewal (any ts, in the report currency) follows its subscription the same way: the renewals of a
   subscription_id go to the shares of the earliest subscription of that id (`recurring_revenue`).

Messages (MESSAGES_SQL) are gathered per message_id from all their rows, the registration through the API
and the providers' receipts, in whatever order they arrived. The labels come from the earliest row that has
any (an API row first): a row without them (a receipt, a status posted without its link) never hides them.

The credit query returns sums per group, per n (the number of clicks sharing a conversion), per kind of
credit (click or view) and per conversion type: the division by n happens once per group, in exact rational
arithmetic (campaign.py), so a linear split never loses or invents a fraction of a cent, and ClickHouse only
ever adds Decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tracker.settings import Settings

MODELS: tuple[str, ...] = ("last_click", "first_click", "linear")

# The types a report credits to clicks: purchases, the micro conversions and subscriptions, each counted per
# row. Refunds and renewals are not credited themselves: they follow the order or subscription they belong to.
MICRO_TYPES: tuple[str, ...] = ("add_to_cart", "checkout", "signup", "lead")
CREDITED_TYPES: tuple[str, ...] = ("purchase", *MICRO_TYPES, "subscription")

# The credited conversions of the report, each (order_id, type) once: a purchase and a checkout of one order are
# two conversions, each credited once. Only conversions with a row inside the range are grouped, and rows at or
# after `end` cannot be the earliest of such a conversion, so the dedup reads a small slice of the table. Its
# `order_id` is the credit key 'type:order_id' (types hold no ':'), which the credit query partitions by;
# `kind` is the type, `id` the order id as sent.
CREDITED_SQL = """
    SELECT concat(kind, ':', id) AS order_id, kind, id, first_ts AS ts, kept.1 AS currency, kept.2 AS value,
           kept.3 AS click_id, kept.4 AS recipient_ref, kept.5 AS source
    FROM (
        SELECT order_id AS id, type AS kind, min(ts) AS first_ts,
               argMin((currency, value, click_id, recipient_ref, source), ts) AS kept
        FROM conversions
        WHERE type IN {credited:Array(String)} AND ts < {end:DateTime64(3, 'UTC')}
          AND (order_id, type) IN (
              SELECT order_id, type FROM conversions
              WHERE type IN {credited:Array(String)}
                AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
          )
        GROUP BY order_id, type
    )
    WHERE first_ts >= {start:DateTime64(3, 'UTC')}
"""

# Each message once, from all its rows. Placeholder <rows> picks the messages (a condition on their rows; fixed
# text, never user input); every row of a picked message counts. Its labels are those of its earliest row
# registered through the API, else of its earliest receipt; its recipient the first one known, the API's
# first. It was sent when any row says sent, delivered, undelivered or read (a delivered text was sent even if
# its `sent` receipt never came), delivered at its first `delivered` or `read`, failed when it failed or was
# undelivered and never delivered. first_ts is when we first heard of it: its send time.
MESSAGES_SQL = """
    SELECT message_id, first_ts, was_sent, was_delivered, was_failed, delivered_ts, labels.1 AS code,
           labels.2 AS channel, labels.3 AS campaign, labels.4 AS message, labels.5 AS tags, labels.6 AS utm_source,
           labels.7 AS utm_medium, labels.8 AS utm_campaign, labels.9 AS utm_content, labels.10 AS utm_term,
           labels.11 AS domain,
           recipient AS recipient_ref
    FROM (
        SELECT message_id, min(ts) AS first_ts,
               countIf(status IN ('sent', 'delivered', 'undelivered', 'read')) > 0 AS was_sent,
               countIf(status IN ('delivered', 'read')) > 0 AS was_delivered,
               countIf(status IN ('failed', 'undelivered')) > 0 AND NOT was_delivered AS was_failed,
               minIf(ts, status IN ('delivered', 'read')) AS delivered_ts,
               argMin((code, channel, campaign, message, tags, utm_source, utm_medium, utm_campaign, utm_content,
                       utm_term, domain),
                      (code = '' AND channel = '' AND campaign = '', source != 'api', ts)) AS labels,
               argMin(recipient_ref, (recipient_ref = '', source != 'api', ts)) AS recipient
        FROM messages
        WHERE message_id IN (SELECT message_id FROM messages WHERE <rows>)
        GROUP BY message_id
    )
"""

# View-through candidates (rule 5), spliced into the credit query when the view window is on. <view_window> is
# the per-channel expression, <message_columns> the group keys read from the message.
_VIEW_SQL = """
deliveries AS (
    SELECT message_id, delivered_ts, recipient_ref, <view_window> AS window_s<message_columns>
    FROM (<messages>)
    WHERE was_delivered AND recipient_ref != '' AND NOT hasAny(tags, {excluded:Array(String)})
      AND delivered_ts >= {view_scan_from:DateTime64(3, 'UTC')} AND delivered_ts < {end:DateTime64(3, 'UTC')}
),
view_candidates AS (
    -- The buyer's last delivered message within its view window before the purchase: one per purchase.
    SELECT b.order_id AS order_id, b.ts AS purchase_ts, b.value AS value, toUInt8(2) AS via,
           d.message_id AS credit_id, d.delivered_ts AS credit_ts<view_candidate_columns>
    FROM deliveries AS d
    INNER JOIN buyers AS b ON b.buyer = d.recipient_ref
    WHERE d.window_s > 0 AND d.delivered_ts <= b.ts
      AND toUnixTimestamp64Milli(d.delivered_ts) >= toUnixTimestamp64Milli(b.ts) - toInt64(d.window_s) * 1000
    ORDER BY order_id, credit_ts DESC, credit_id DESC
    LIMIT 1 BY order_id
),
"""

# Which clicks (or message) each credited conversion goes to, as CTEs that end in `credited`: one row per
# (conversion, credited click), with n the number of clicks sharing it. The credit query and the reconciliation
# add their own SELECT. Placeholders in <...> are filled from fixed tables (never from user input): <window> the
# per-channel window expression, <click_columns> the group keys, <view> and <view_union> the view-through part
# or nothing. Every value is a bound {name:Type} parameter. In these CTEs `order_id` is the credit key
# 'type:order_id' of CREDITED_SQL ("purchase" below stands for every credited conversion).
_CREDITED_CTES = """
WITH
purchases AS (
    -- A conversion with a currency counts in that currency's report; one without (a signup, a lead) in every
    -- report; a purchase always has one.
    SELECT * FROM (<purchases>)
    WHERE (currency = {currency:String} AND currency != '') OR (currency = '' AND kind != 'purchase')
),
period_rows AS (
    -- Raw credited rows of the period, a superset of `purchases`. The lookups below filter by it rather than by
    -- `purchases` because ClickHouse evaluates a CTE again at every reference, and the dedup is dearer.
    SELECT order_id, type, click_id, recipient_ref, subscription_id FROM conversions
    WHERE type IN {credited:Array(String)} AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
),
named_clicks AS (
    -- The recipient of the click a purchase names, for purchases that carry no recipient of their own.
    SELECT click_id, max(recipient_ref) AS recipient_ref
    FROM clicks
    WHERE click_id IN (SELECT click_id FROM period_rows WHERE click_id != '' AND recipient_ref = '')
    GROUP BY click_id
),
buyers AS (
    -- Each purchase with its buyer: its own recipient, else that of the click its click_id names.
    SELECT p.order_id AS order_id, p.ts AS ts, p.value AS value, p.click_id AS click_id,
           if(p.recipient_ref != '', p.recipient_ref, ifNull(n.recipient_ref, '')) AS buyer
    FROM purchases AS p
    LEFT JOIN named_clicks AS n ON n.click_id = p.click_id
),
match_keys AS (
    -- Two ways to find a purchase's clicks: via 0 = its click_id, via 1 = its recipient.
    SELECT order_id, ts, value, m.1 AS via, m.2 AS match_key
    FROM buyers
    ARRAY JOIN arrayFilter(x -> x.2 != '', [(toUInt8(0), click_id), (toUInt8(1), buyer)]) AS m
),
eligible AS (
    SELECT click_id, ts<click_columns>, <window> AS window_s, k.1 AS via, k.2 AS match_key
    FROM clicks
    ARRAY JOIN arrayFilter(x -> x.2 != '', [(toUInt8(0), click_id), (toUInt8(1), recipient_ref)]) AS k
    WHERE ts >= {scan_from:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
      AND NOT is_bot AND NOT hasAny(tags, {excluded:Array(String)})
),
click_candidates AS (
    SELECT p.order_id AS order_id, p.ts AS purchase_ts, p.value AS value, p.via AS via,
           e.click_id AS credit_id, e.ts AS credit_ts<candidate_columns>
    FROM eligible AS e
    INNER JOIN match_keys AS p ON p.via = e.via AND p.match_key = e.match_key
    WHERE e.ts <= p.ts
      AND toUnixTimestamp64Milli(e.ts) >= toUnixTimestamp64Milli(p.ts) - toInt64(e.window_s) * 1000
    LIMIT 1 BY order_id, via, credit_id
),<view>
candidates AS (
    SELECT * FROM click_candidates<view_union>
),
chosen AS (
    -- A click-id match, when there is one, beats every recipient match, which beats a delivered message.
    SELECT *, count() OVER (PARTITION BY order_id) AS n, <rank> AS credit_rank
    FROM (SELECT *, min(via) OVER (PARTITION BY order_id) AS best_via FROM candidates)
    WHERE via = best_via
),
credited AS (
    SELECT * FROM chosen WHERE credit_rank = 1
)"""

# Per (group, n, kind of credit, type): credits and money; the caller divides by n. A refund follows its order:
# each refund once (its earliest row per refund_id: a store refunds in parts), in the report currency, added up;
# a store's parts never count for more than the purchase (its rest and its records can describe the same money).
# A renewal follows its subscription: the renewals (any time, each once) of the subscription_id go to the
# earliest subscription row of that id.
_CREDIT_SQL = _CREDITED_CTES + """,
refunds AS (
    SELECT concat('purchase:', id) AS order_id, sum(kept.2) AS value, countIf(refund_id != '') > 0 AS in_parts
    FROM (
        SELECT order_id AS id, refund_id, argMin((currency, value), ts) AS kept
        FROM conversions
        WHERE type = 'refund' AND order_id IN (SELECT order_id FROM period_rows WHERE type = 'purchase')
        GROUP BY order_id, refund_id
    )
    WHERE kept.1 = {currency:String}
    GROUP BY id
),
recurring AS (
    SELECT concat('subscription:', s.first_order) AS order_id, r.value AS value
    FROM (
        SELECT subscription_id, argMin(order_id, ts) AS first_order
        FROM conversions
        WHERE type = 'subscription'
          AND subscription_id IN (SELECT subscription_id FROM period_rows WHERE type = 'subscription')
        GROUP BY subscription_id
    ) AS s
    INNER JOIN (
        SELECT kept.3 AS subscription_id, sum(kept.2) AS value
        FROM (
            SELECT order_id, argMin((currency, value, subscription_id), ts) AS kept
            FROM conversions
            WHERE type = 'renewal'
              AND subscription_id IN (SELECT subscription_id FROM period_rows WHERE type = 'subscription')
            GROUP BY order_id
        )
        WHERE kept.1 = {currency:String}
        GROUP BY subscription_id
    ) AS r ON r.subscription_id = s.subscription_id
)
SELECT <group_columns>, <share> AS share, c.via = 2 AS by_view, splitByChar(':', c.order_id)[1] AS kind,
       count() AS credits, toDecimal128(sum(c.value), 4) AS value_sum,
       toDecimal128(sum(if(r.in_parts, least(r.value, c.value), ifNull(r.value, 0))), 4) AS refund_sum,
       toDecimal128(sum(ifNull(rc.value, 0)), 4) AS renewal_sum
FROM credited AS c
LEFT JOIN refunds AS r ON r.order_id = c.order_id
LEFT JOIN recurring AS rc ON rc.order_id = c.order_id
GROUP BY <group_names>, share, by_view, kind
"""

# The reconciliation (reconciliation.py): per day and source, the purchases received and those credited.
_RECONCILIATION_SQL = _CREDITED_CTES + """
SELECT toString(toDate(p.ts)) AS day, p.source AS source, count() AS orders, toDecimal128(sum(p.value), 4) AS revenue,
       countIf(a.order_id != '') AS attributed_orders,
       toDecimal128(sumIf(p.value, a.order_id != ''), 4) AS attributed_revenue
FROM (SELECT * FROM purchases WHERE kind = 'purchase') AS p
LEFT JOIN (SELECT DISTINCT order_id FROM credited) AS a ON a.order_id = p.order_id
GROUP BY day, source
ORDER BY day, source
"""

# The one credited click of a conversion has rank 1; under linear every candidate has.
_RANKS = {
    "last_click": "row_number() OVER (PARTITION BY order_id ORDER BY credit_ts DESC, credit_id DESC)",
    "first_click": "row_number() OVER (PARTITION BY order_id ORDER BY credit_ts ASC, credit_id ASC)",
    "linear": "toUInt64(1)",
}
# Under last/first click a purchase has one credited click: its whole value goes there.
_SHARES = {"last_click": "toUInt64(1)", "first_click": "toUInt64(1)", "linear": "c.n"}


def window_sql(window: int | None, settings: Settings) -> tuple[str, dict[str, object], int]:
    """The SQL of a click's window in seconds, its parameters, and the longest window (how far back to scan).

    With a `window` override every channel gets it; otherwise `Settings.window_for` rules, as a multiIf on the
    lower-cased channel (window_for lower-cases too) whose branches are bound parameters.
    """
    return _per_channel_sql("window", window, settings.attribution_window, settings.channel_windows)


def view_window_sql(view_window: int | None, settings: Settings) -> tuple[str, dict[str, object], int]:
    """As `window_sql`, for a message's view-through window (`Settings.view_window_for`; 0 is off). The
    longest window is 0 when view-through is off for every channel."""
    return _per_channel_sql("view", view_window, settings.view_window, settings.channel_view_windows)


def _per_channel_sql(
    name: str, override: int | None, default: int, channels: Mapping[str, int]
) -> tuple[str, dict[str, object], int]:
    if override is not None:
        return f"{{{name}_default:UInt64}}", {f"{name}_default": override}, override
    params: dict[str, object] = {f"{name}_default": default}
    branches: list[str] = []
    for i, (channel, seconds) in enumerate(sorted(channels.items())):
        branches.append(f"lower(channel) = {{{name}_channel_{i}:String}}, {{{name}_{i}:UInt64}}")
        params[f"{name}_channel_{i}"] = channel
        params[f"{name}_{i}"] = seconds
    longest = max([default, *channels.values()])
    if not branches:
        return f"{{{name}_default:UInt64}}", params, longest
    return f"multiIf({', '.join(branches)}, {{{name}_default:UInt64}})", params, longest


def messages_sql(rows: str) -> str:
    """MESSAGES_SQL for the messages that have a row matching `rows` (fixed SQL text of the caller)."""
    return MESSAGES_SQL.replace("<rows>", rows)


def credit_sql(
    model: str,
    keys: Sequence[tuple[str, str, str | None]],
    group_keys: Sequence[str],
    window: str,
    view_window: str | None = None,
) -> str:
    """The credit query for `model`, grouped by `group_keys`; with `view_window` (an expression), view-through.

    `keys` are (name, clicks column, messages column or None) of the non-day keys, read from the credited click
    or message (a key a message lacks is ''); `day` is the purchase's day. All names come from the fixed
    GROUP_KEYS tables, never from the request.
    """
    group_columns = ", ".join(
        "toString(toDate(c.purchase_ts)) AS g_day" if key == "day" else f"c.k_{key} AS g_{key}" for key in group_keys
    )
    return _fill(_CREDIT_SQL, model, keys, window, view_window, (
        ("<group_columns>", group_columns),
        ("<group_names>", ", ".join(f"g_{key}" for key in group_keys)),
    ))


def reconciliation_sql(window: str, view_window: str | None = None) -> str:
    """The reconciliation query: per day and source, the purchases received and those credited (to clicks or,
    with `view_window`, to a message); which click does not matter, so any model gives the same answer."""
    return _fill(_RECONCILIATION_SQL, "last_click", (), window, view_window, ())


def _fill(
    sql: str,
    model: str,
    keys: Sequence[tuple[str, str, str | None]],
    window: str,
    view_window: str | None,
    more: Sequence[tuple[str, str]],
) -> str:
    click_columns = "".join(f", {column}" for _, column, _ in keys)
    candidate_columns = "".join(f", toString(e.{column}) AS k_{name}" for name, column, _ in keys)
    view = view_union = ""
    if view_window is not None:
        view = "\n" + _VIEW_SQL.strip().removesuffix(",") + ","
        view_union = "\n    UNION ALL\n    SELECT * FROM view_candidates"
    for placeholder, text in (
        ("<view>", view),
        ("<view_union>", view_union),
        ("<messages>", messages_sql(
            "status IN ('delivered', 'read') AND ts >= {view_scan_from:DateTime64(3, 'UTC')} "
            "AND ts < {end:DateTime64(3, 'UTC')}")),
        ("<view_window>", view_window or ""),
        ("<message_columns>", "".join(f", {column} AS m_{name}" for name, _, column in keys if column)),
        ("<view_candidate_columns>", "".join(
            f", toString(d.m_{name}) AS k_{name}" if column else f", '' AS k_{name}" for name, _, column in keys)),
        ("<purchases>", CREDITED_SQL),
        ("<window>", window),
        ("<click_columns>", click_columns),
        ("<candidate_columns>", candidate_columns),
        ("<rank>", _RANKS[model]),
        ("<share>", _SHARES[model]),
        *more,
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


def _within(override: int | None, default: int, channels: Mapping[str, int]) -> str:
    """'7 days (SMS: 1 day)': the window of every channel, in words. A zero view window is 'off'; with the
    default off, only the channels that have one are named: '24 hours for SMS'."""
    if override is not None:
        return describe_duration(override)
    if not default:
        on = [f"{describe_duration(s)} for {_channel_label(c)}" for c, s in sorted(channels.items()) if s]
        return ", ".join(on[:-1]) + f" and {on[-1]}" if len(on) > 1 else on[0]
    per_channel = [
        f"{_channel_label(channel)}: {describe_duration(seconds) if seconds else 'off'}"
        for channel, seconds in sorted(channels.items())
    ]
    within = describe_duration(default)
    return f"{within} ({', '.join(per_channel)})" if per_channel else within


def formula(
    model: str,
    currency: str,
    window: int | None,
    settings: Settings,
    exclude_tags: Sequence[str],
    view_window: int | None = None,
) -> str:
    """How a sale was credited, for the report's readers (and the docs, which quote it): one sentence, as the
    contract says, with the view-through rule as its last clause when view-through is on."""
    subject = f"A purchase in {currency}" if currency else "A purchase"
    verb = {
        "last_click": "is credited to the last human click",
        "first_click": "is credited to the first human click",
        "linear": "is split equally between the human clicks",
    }[model]
    within = _within(window, settings.attribution_window, settings.channel_windows)
    never = "bot clicks"
    if exclude_tags:
        never += f" and links tagged {' or '.join(exclude_tags)}"
    sentence = (
        f"{subject} {verb} on the same click id, else by the same recipient, within {within} before it; "
        f"{never} are never credited."
    )
    if view_window_sql(view_window, settings)[2] == 0:
        return sentence
    view_within = _within(view_window, settings.view_window, settings.channel_view_windows)
    untagged = f" not tagged {' or '.join(exclude_tags)}" if exclude_tags else ""
    return (
        f"{sentence.removesuffix('.')}; a purchase with no eligible click is credited to the buyer's last "
        f"message{untagged} delivered (or read) within {view_within} before it (view-through)."
    )

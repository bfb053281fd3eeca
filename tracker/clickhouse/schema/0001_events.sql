-- 0001: the event tables (SPEC section 6). Never edit this file once it has landed: add 0002_*.sql instead.
--
-- Every table is created in the client's current database (no database name here) and with IF NOT EXISTS,
-- so a migration interrupted half-way can simply be run again.
--
-- non_replicated_deduplication_window: MergeTree defaults it to 0, which turns insert deduplication off.
-- The loader retries a failed insert with the same insert_deduplication_token (derived from the Redis stream
-- entry ids of the block), so a block the server stored before the connection dropped is not stored twice:
-- "each event lands exactly once". 10000 remembered blocks covers hours of retries at any realistic rate.

-- clicks: one row per redirect. ORDER BY starts with the day because every report filters on a ts range
-- (monthly partitions are pruned first, then the day prefix of the key narrows the granules; ClickHouse
-- applies the key to ts conditions through the monotonic toDate). channel, campaign and message follow
-- because reports group by them: rows of a group sit together, which compresses these low-cardinality
-- columns well and lets aggregation read in key order. code serves per-link counts within a message;
-- ts last keeps the rows of a link in time order, which is how attribution scans them.
-- click_id and recipient_ref are random-looking, so a sort key cannot help the attribution joins on them:
-- bloom filter skip indexes do.
CREATE TABLE IF NOT EXISTS clicks
(
    click_id String COMMENT 'the sclid handed to the browser: 128 random bits, URL-safe',
    ts DateTime64(3, 'UTC'),
    code String,
    channel LowCardinality(String),
    campaign String,
    message String,
    utm_source LowCardinality(String),
    utm_medium LowCardinality(String),
    utm_campaign LowCardinality(String),
    utm_content LowCardinality(String),
    utm_term LowCardinality(String),
    tags Array(LowCardinality(String)),
    recipient_ref String COMMENT 'HMAC of the normalised phone or e-mail; empty when the link has no recipient',
    destination_host LowCardinality(String),
    method LowCardinality(String),
    is_bot Bool,
    bot_reason LowCardinality(String),
    device_type LowCardinality(String),
    os LowCardinality(String),
    browser LowCardinality(String),
    referer String,
    ip_ref String COMMENT 'HMAC of the client address, never the raw address',
    INDEX idx_click_id click_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_recipient_ref recipient_ref TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), channel, campaign, message, code, ts)
SETTINGS non_replicated_deduplication_window = 10000;

-- conversions: orders and other goals, from the pixel, the API or t.js. Reports read them by ts range and
-- type (purchase vs refund), hence the key. A refund is matched to its purchase by order_id, which may lie
-- outside the report range, and attribution looks clicks up by click_id / recipient_ref: bloom filters on
-- all three keep those lookups from scanning every part.
CREATE TABLE IF NOT EXISTS conversions
(
    order_id String,
    type LowCardinality(String) COMMENT 'purchase | refund | add_to_cart | checkout | signup | lead',
    value Decimal(18, 4) COMMENT 'amount in currency; a refund carries the amount refunded, not a negative',
    currency LowCardinality(String) COMMENT 'ISO 4217',
    click_id String,
    recipient_ref String,
    ts DateTime64(3, 'UTC'),
    source LowCardinality(String) COMMENT 'pixel | api | js',
    verified Bool,
    INDEX idx_order_id order_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_click_id click_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_recipient_ref recipient_ref TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), type, currency, ts)
SETTINGS non_replicated_deduplication_window = 10000;

-- dead_letters: stream entries the loader could not turn into a row, kept for inspection and replay instead
-- of blocking the stream. payload is the raw event as it was in the stream, which never holds raw IPs,
-- phones or e-mails (the edge and the API only ever put HMAC refs there). Read newest first per stream.
CREATE TABLE IF NOT EXISTS dead_letters
(
    ts DateTime64(3, 'UTC'),
    stream String,
    entry_id String COMMENT 'Redis stream entry id',
    reason String,
    payload String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (stream, ts, entry_id)
SETTINGS non_replicated_deduplication_window = 10000;

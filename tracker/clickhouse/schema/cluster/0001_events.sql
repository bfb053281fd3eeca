-- 0001 (cluster): the event tables of ../0001_events.sql for a sharded, replicated ClickHouse cluster.
-- Never edit this file once it has landed: add 0002_*.sql here (and its single-node twin in the parent folder).
--
-- Applied by `tracker migrate --cluster NAME` (tracker/cluster_migrate.py), never by hand-pasting: it fills in
-- the two placeholders below, runs the statements in order and records the version in `schema_migrations`.
--   {cluster}   the cluster name from <remote_servers> (checked: letters, digits, '_')
--   {database}  the database of TRACKER_CLICKHOUSE_URL (created ON CLUSTER if missing)
-- {shard} and {replica} are NOT filled in by us: every server expands them from its own <macros> section,
-- which is what makes one statement create a different replica on each server.
--
-- Layout, per single-node table T:
--   T_local  ReplicatedMergeTree on every server, one ZooKeeper/Keeper path per shard: the data.
--   T        Distributed over T_local: the name the loader inserts into and the reports read, so neither
--            knows it runs on a cluster. The cluster definition must say <internal_replication>true</...>:
--            the Distributed table then writes each block to one replica and replication copies it,
--            instead of writing every replica itself (which would bypass deduplication).
--
-- Columns, ORDER BY, PARTITION BY and skip indexes are those of the single-node file, for the same reasons
-- (see the comments there); tests/ops/test_cluster_schema.py checks that they stay identical.
--
-- Exactly once, on a cluster: the loader retries a failed insert with the same insert_deduplication_token.
-- A Replicated table keeps its own deduplication window (replicated_deduplication_window blocks, kept at most
-- replicated_deduplication_window_seconds) in Keeper; it is set explicitly because a zero window would turn
-- deduplication off. The Distributed sharding keys are deterministic functions of the row, so a retried
-- batch is split into the very same per-shard blocks and each shard drops its repeat. A random key (rand())
-- would send different rows to a shard under the same token, and the shard would drop rows it never had.
-- Give the loader's ClickHouse user distributed_foreground_insert = 1, so an insert returns only once every
-- shard has its block (ops/README.md, "ClickHouse cluster").
--
-- Every statement says ON CLUSTER, so each one reaches every server through the distributed DDL queue,
-- and IF NOT EXISTS, so an interrupted run (a server down past distributed_ddl_task_timeout) can simply be
-- run again.

-- clicks: sharded by click_id, which spreads rows evenly and keeps all rows of one click on one shard.
CREATE TABLE IF NOT EXISTS clicks_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/clicks_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), channel, campaign, message, code, ts)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS clicks ON CLUSTER '{cluster}' AS clicks_local
ENGINE = Distributed('{cluster}', '{database}', clicks_local, cityHash64(click_id));

-- conversions: sharded by order_id, so a purchase and its refunds (same order_id) sit on one shard.
CREATE TABLE IF NOT EXISTS conversions_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/conversions_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), type, currency, ts)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS conversions ON CLUSTER '{cluster}' AS conversions_local
ENGINE = Distributed('{cluster}', '{database}', conversions_local, cityHash64(order_id));

-- dead_letters: few rows; sharded by their stream entry, deterministic like the others (see the header).
CREATE TABLE IF NOT EXISTS dead_letters_local ON CLUSTER '{cluster}'
(
    ts DateTime64(3, 'UTC'),
    stream String,
    entry_id String COMMENT 'Redis stream entry id',
    reason String,
    payload String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/dead_letters_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (stream, ts, entry_id)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS dead_letters ON CLUSTER '{cluster}' AS dead_letters_local
ENGINE = Distributed('{cluster}', '{database}', dead_letters_local, cityHash64(stream, entry_id));

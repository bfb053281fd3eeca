-- 0002 (cluster): the messages table of ../0002_messages.sql for a sharded, replicated ClickHouse cluster.
-- Never edit this file once it has landed: add 0003_*.sql here (and its single-node twin in the parent folder).
-- Placeholders, engines and exactly-once as in 0001_events.sql (read its header).

-- messages: sharded by message_id, so every status of a text sits on one shard and the per-message
-- gathering of the report never crosses shards.
CREATE TABLE IF NOT EXISTS messages_local ON CLUSTER '{cluster}'
(
    message_id String COMMENT 'the provider''s id of the text: Twilio MessageSid, Telnyx data.payload.id',
    status LowCardinality(String) COMMENT 'sent | delivered | undelivered | failed | read',
    ts DateTime64(3, 'UTC') COMMENT 'when the status happened, else when we were told',
    recipient_ref String COMMENT 'HMAC of the normalised recipient; never the raw phone or e-mail',
    code String COMMENT 'the short link the text carried; empty when unknown',
    channel LowCardinality(String),
    campaign String,
    message String,
    tags Array(LowCardinality(String)),
    provider LowCardinality(String) COMMENT 'twilio, telnyx, or what the API caller named',
    error_code LowCardinality(String) COMMENT 'the provider''s error code of a failure; empty otherwise',
    utm_source LowCardinality(String),
    utm_medium LowCardinality(String),
    utm_campaign LowCardinality(String),
    utm_content LowCardinality(String),
    utm_term LowCardinality(String),
    source LowCardinality(String) COMMENT 'api | twilio | telnyx: which door the row came through',
    INDEX idx_message_id message_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_recipient_ref recipient_ref TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/messages_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), message_id, status, ts)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS messages ON CLUSTER '{cluster}' AS messages_local
ENGINE = Distributed('{cluster}', '{database}', messages_local, cityHash64(message_id));

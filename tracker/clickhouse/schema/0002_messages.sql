-- 0002: the messages table (SPEC section 6). Never edit this file once it has landed: add 0003_*.sql instead.
--
-- messages: one row per status of a text (sent, delivered, undelivered, failed, read), from POST /v1/messages
-- (source 'api': the platform registering what it sent, labelled from the link its `code` names) or from a
-- provider's delivery receipt (source 'twilio' | 'telnyx': the provider's id, the status, the recipient).
-- Rows of one text share its message_id; the report joins them by it, whichever arrived first, taking the
-- text's labels from its 'api' row when there is one. The stream dedup keeps one row per (message_id,
-- status) and the loader's insert_deduplication_token keeps retried blocks from landing twice, as for clicks.
--
-- ORDER BY: every report reads a ts range, then gathers the rows of each message_id; message_id after the
-- day keeps a text's rows of one day together. recipient_ref is looked up by view-through attribution (a
-- purchase's buyer): a bloom filter, as on clicks; message_id gets one for the per-message gathering across
-- days (a text sent late on one day and delivered after midnight).
-- utm_* are the link's UTM values, so a report grouped by source or medium counts a text with its clicks.
CREATE TABLE IF NOT EXISTS messages
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), message_id, status, ts)
SETTINGS non_replicated_deduplication_window = 10000;

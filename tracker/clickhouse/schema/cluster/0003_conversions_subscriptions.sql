-- 0003 (cluster): the columns of ../0003_conversions_subscriptions.sql on the cluster's tables. Never edit this
-- file once it has landed: add the next number here (and its single-node twin in the parent folder).
--
-- The data lives in conversions_local (every server); the Distributed table `conversions` must list the same
-- columns to insert and read them, so both are altered, the local tables first. Columns, comments and the
-- skip index are those of the single-node file (see its comments).
ALTER TABLE conversions_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS subscription_id String DEFAULT '' COMMENT 'the subscription a subscription row starts or a renewal renews',
    ADD COLUMN IF NOT EXISTS refund_id String DEFAULT '' COMMENT 'which refund of the order, when a store refunds in parts',
    COMMENT COLUMN type 'purchase | refund | add_to_cart | checkout | signup | lead | subscription | renewal',
    COMMENT COLUMN source 'pixel | api | js | shopify | woocommerce | import';

ALTER TABLE conversions_local ON CLUSTER '{cluster}'
    ADD INDEX IF NOT EXISTS idx_subscription_id subscription_id TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE conversions ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS subscription_id String DEFAULT '' COMMENT 'the subscription a subscription row starts or a renewal renews',
    ADD COLUMN IF NOT EXISTS refund_id String DEFAULT '' COMMENT 'which refund of the order, when a store refunds in parts',
    COMMENT COLUMN type 'purchase | refund | add_to_cart | checkout | signup | lead | subscription | renewal',
    COMMENT COLUMN source 'pixel | api | js | shopify | woocommerce | import';

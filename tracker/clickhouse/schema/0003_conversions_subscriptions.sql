-- 0003: subscriptions and store refunds on `conversions` (SPEC section 6). Never edit this file once it has
-- landed: add the next number instead.
--
-- subscription_id: the subscription a `subscription` row starts and a `renewal` row renews; a renewal is
-- credited with its subscription's shares, so the report looks subscriptions up by it (bloom filter).
-- refund_id: which refund of an order a row is, for stores that refund one order in several parts (Shopify's
-- refund id, WooCommerce's refund id, 'cancel' for the rest of a cancelled Shopify order, 'refunded' for the
-- rest of a refunded WooCommerce order); '' for a refund the API or the pixel sent (one per order).
-- Rows written before this migration read '' in both, which is what they meant.
-- New `type` values: subscription, renewal; new `source` values: shopify, woocommerce, import.
ALTER TABLE conversions
    ADD COLUMN IF NOT EXISTS subscription_id String DEFAULT '' COMMENT 'the subscription a subscription row starts or a renewal renews',
    ADD COLUMN IF NOT EXISTS refund_id String DEFAULT '' COMMENT 'which refund of the order, when a store refunds in parts',
    COMMENT COLUMN type 'purchase | refund | add_to_cart | checkout | signup | lead | subscription | renewal',
    COMMENT COLUMN source 'pixel | api | js | shopify | woocommerce | import';

ALTER TABLE conversions ADD INDEX IF NOT EXISTS idx_subscription_id subscription_id TYPE bloom_filter(0.01) GRANULARITY 1;

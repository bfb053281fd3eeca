-- 0004 (cluster): clicks.domain, as ../0004_clicks_domain.sql, on the replicated table of every server and on
-- the Distributed table over it (both must know a column for inserts and reads to carry it).
-- Never edit this file once it has landed: add a new number.
ALTER TABLE clicks_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS domain LowCardinality(String) DEFAULT '' AFTER ip_ref;
ALTER TABLE clicks ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS domain LowCardinality(String) DEFAULT '' AFTER ip_ref;

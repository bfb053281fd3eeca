-- 0005 (cluster): messages.domain, as ../0005_messages_domain.sql, on the replicated table of every server and
-- on the Distributed table over it (both must know a column for inserts and reads to carry it).
-- Never edit this file once it has landed: add a new number.
ALTER TABLE messages_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS domain LowCardinality(String) DEFAULT '' AFTER source;
ALTER TABLE messages ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS domain LowCardinality(String) DEFAULT '' AFTER source;

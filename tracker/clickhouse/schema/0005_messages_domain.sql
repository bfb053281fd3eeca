-- 0005: the short domain of the link a text carried, so reports grouped by `domain` count sends and
-- deliveries beside the clicks of that domain. Messages recorded before it (and receipts, which name no link)
-- read ''.
-- Never edit this file once it has landed: add a new number.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS domain LowCardinality(String) DEFAULT '' AFTER source;

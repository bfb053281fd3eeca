-- 0004: the short domain a click came in on (a link belongs to one of TRACKER_SHORT_BASE's host and
-- TRACKER_SHORT_DOMAINS), so reports can group by `domain`. Clicks recorded before it read ''.
-- Never edit this file once it has landed: add a new number.
ALTER TABLE clicks ADD COLUMN IF NOT EXISTS domain LowCardinality(String) DEFAULT '' AFTER ip_ref;

-- @requires insert_deduplication_token
-- Modern ClickHouse only (applied, and recorded, once the server supports insert deduplication tokens; an
-- 18.16 server skips it at every start-up until upgraded). Keeps the hashes of the last inserts of this
-- non-replicated table so a retried INSERT carrying the same insert_deduplication_token is dropped by the
-- server itself. ReplacingMergeTree remains the guarantee; this only saves the duplicate parts.
ALTER TABLE wal_events MODIFY SETTING non_replicated_deduplication_window = 10000;

-- @requires fsync_after_insert
-- Modern ClickHouse only (skipped on 18.16 and reconsidered at every start-up, like 0002). Makes every
-- insert into wal_events fsync its part before the INSERT is answered, so rows the loader verified before
-- writing LOADED survive a power loss. Only with it may loader.retention be "delete"
-- (loaders/durability.ts); with "archive" the segment files stay on disk as the second copy.
ALTER TABLE wal_events MODIFY SETTING fsync_after_insert = 1;

-- WAL events, one row per WAL record, loaded from sealed segments by the loaders (and written by the
-- direct recorder in compatibility mode, src/wal/config.ts `wal.direct.table`).
--
-- One table for every topic, topic leading the sort key (see docs/replay.md, "dedup keys"):
--   * the business key (producer_id, seq) is unique across topics (seq is per producer), so adding topic to
--     the key never merges two different records; a record's topic never changes, so replays of it still
--     collapse;
--   * topic first keeps each topic's rows together, so a per-topic query reads only its own range, as a
--     per-topic table would, and a segment's "what already landed" check is one primary-key range;
--   * the direct recorder and the loaders write the same table, so switching modes never splits history.
-- ReplacingMergeTree without a version column: duplicates of a record are byte-identical, any survivor is
-- right. Partitions are by month of the record's own timestamp, so every copy of a record lands in the same
-- partition (ReplacingMergeTree only collapses within one). Timestamps are UInt64 ns (18.16 has no DateTime64).
CREATE TABLE IF NOT EXISTS wal_events (
  producer_id String,
  seq UInt64,
  ts_ns UInt64,
  topic String,
  payload String,
  crc UInt32
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_ns, 1000000000)))
ORDER BY (topic, producer_id, seq);

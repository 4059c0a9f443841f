--[[
  Operator replay: puts a finished or quarantined segment back to SEALED so loaders ingest it again. The
  segment files must be back in the WAL directory (see runbooks/loader.md). Rows already in ClickHouse
  collapse with the replayed ones on the business key (producer_id, seq).

  Input:
    KEYS[1] segment state hash

    ARGV[1] mode: "check" (the next load first asks ClickHouse what landed and inserts only the rest)
                  or "force" (the next load inserts every record again)

  Output:
    {0, previous state}             replay scheduled
    {-3, state, lease ms left}      a loader holds a live claim on it: nothing changed
]]
local rcall = redis.call
-- @include "segmentNow"

local key = KEYS[1]
local now = segmentNowMs()
local cur = rcall("HMGET", key, "state", "lease_until")
local state = cur[1] or "SEALED"
if state == "CLAIMED" or state == "LOADING" then
  local leaseUntil = tonumber(cur[2] or "0")
  if leaseUntil > now then
    return {-3, state, leaseUntil - now}
  end
end
local dirty = "0"
if ARGV[1] == "check" then dirty = "1" end
rcall("HSET", key, "state", "SEALED", "dirty", dirty, "claims", 0, "updated_ms", now)
rcall("HDEL", key, "token", "lease_until", "reason")
rcall("HINCRBY", key, "replays", 1)
rcall("PERSIST", key)
return {0, state}

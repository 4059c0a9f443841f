--[[
  One compare-and-set transition of the segment manifest state machine:

    CLAIMED → LOADING       first insert is about to be sent (marks the segment dirty, renews the lease)
    CLAIMED → LOADED        the pre-check found every record already in ClickHouse
    LOADING → LOADED        every record verified present in ClickHouse
    CLAIMED|LOADING → QUARANTINED   the segment failed verification (reason kept)
    CLAIMED|LOADING → SEALED        the attempt gave up (ClickHouse down): released for a retry
    LOADED  → ARCHIVED      the files were archived or deleted per retention

  From CLAIMED/LOADING the caller must present the claim token (the fence against zombie loaders). The
  lease itself is not checked here: while no one took the claim over, the token is still the owner's.

  Input:
    KEYS[1] segment state hash
    KEYS[2] loader stats hash ({hft}:segment-stats): cluster-wide loaded rows/bytes/segments, quarantined

    ARGV[1] claim token ("" from LOADED)
    ARGV[2] expected current state
    ARGV[3] new state
    ARGV[4] lease ms (→ LOADING) or state retention ms (→ ARCHIVED: the hash expires after it)
    ARGV[5] rows (→ LOADED)
    ARGV[6] bytes (→ LOADED)
    ARGV[7] reason (→ QUARANTINED, → SEALED)

  Output:
    {0, new state}      done
    {-4, state}         the claim is not the caller's any more (token mismatch or state moved on)
    {-5, state}         the segment is not in the expected state
    {-6, state}         the transition is not part of the state machine (a caller bug)
]]
local rcall = redis.call
-- @include "segmentNow"

local allowed = {
  CLAIMED = {LOADING = true, LOADED = true, QUARANTINED = true, SEALED = true},
  LOADING = {LOADED = true, QUARANTINED = true, SEALED = true},
  LOADED = {ARCHIVED = true},
}
local key = KEYS[1]
local from, to = ARGV[2], ARGV[3]
local cur = rcall("HMGET", key, "state", "token")
local state = cur[1] or "SEALED"
if not (allowed[from] and allowed[from][to]) then
  return {-6, state}
end
if from == "CLAIMED" or from == "LOADING" then
  if state ~= from or cur[2] ~= ARGV[1] then
    return {-4, state}
  end
elseif state ~= from then
  return {-5, state}
end

local now = segmentNowMs()
if to == "LOADING" then
  rcall("HSET", key, "state", to, "dirty", "1", "lease_until", now + tonumber(ARGV[4]), "updated_ms", now)
elseif to == "LOADED" then
  rcall("HSET", key, "state", to, "loaded_rows", ARGV[5], "loaded_ms", now, "updated_ms", now)
  rcall("HDEL", key, "token", "lease_until")
  rcall("HINCRBY", KEYS[2], "loaded_segments", 1)
  rcall("HINCRBY", KEYS[2], "loaded_rows", ARGV[5])
  rcall("HINCRBY", KEYS[2], "loaded_bytes", ARGV[6])
elseif to == "QUARANTINED" then
  rcall("HSET", key, "state", to, "reason", ARGV[7], "updated_ms", now)
  rcall("HDEL", key, "token", "lease_until")
  rcall("HINCRBY", KEYS[2], "quarantined_segments", 1)
elseif to == "SEALED" then
  rcall("HSET", key, "state", to, "last_error", ARGV[7], "updated_ms", now)
  rcall("HDEL", key, "token", "lease_until")
elseif to == "ARCHIVED" then
  rcall("HSET", key, "state", to, "updated_ms", now)
  rcall("PEXPIRE", key, ARGV[4])
end
return {0, to}

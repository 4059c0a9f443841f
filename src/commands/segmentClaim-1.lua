--[[
  Claims one sealed WAL segment for loading (SEALED → CLAIMED), or takes over a claim whose lease expired
  (its loader died or stalled). A claim is fenced by a token unique to this attempt: every later
  transition of this claim must present it, so a zombie loader can never advance a segment it lost.

  Input:
    KEYS[1] segment state hash ({hft}:segment:<segmentId>); a missing hash means SEALED

    ARGV[1] loader id (for operators and the per-loader claims metric)
    ARGV[2] claim token (unique per attempt)
    ARGV[3] lease ms
    ARGV[4] record count from the manifest (stored for operators)
    ARGV[5] segment bytes from the manifest (stored for operators)

  Output:
    {0, previous state, claims, dirty}     claimed; dirty = 1 when an earlier attempt may have inserted rows
                                           (it reached LOADING), so the loader checks what landed first
    {-1, state, claims, 0}                 already LOADED or ARCHIVED: nothing to do but retention
    {-2, state, claims, 0}                 QUARANTINED: left alone until an operator replays it
    {-3, state, claims, lease ms left}     a live claim of another attempt: retry later
]]
local rcall = redis.call
-- @include "segmentNow"

local key = KEYS[1]
local now = segmentNowMs()
local cur = rcall("HMGET", key, "state", "token", "lease_until", "claims", "dirty")
local state = cur[1] or "SEALED"
local claims = tonumber(cur[4] or "0")
if state == "LOADED" or state == "ARCHIVED" then
  return {-1, state, claims, 0}
end
if state == "QUARANTINED" then
  return {-2, state, claims, 0}
end
if state == "CLAIMED" or state == "LOADING" then
  local leaseUntil = tonumber(cur[3] or "0")
  if leaseUntil > now and cur[2] ~= ARGV[2] then
    return {-3, state, claims, leaseUntil - now}
  end
end
local dirty = cur[5] or "0"
if state == "LOADING" then dirty = "1" end
claims = claims + 1
rcall("HSET", key,
  "state", "CLAIMED", "worker", ARGV[1], "token", ARGV[2], "lease_until", now + tonumber(ARGV[3]),
  "claims", claims, "dirty", dirty, "records", ARGV[4], "bytes", ARGV[5], "updated_ms", now)
rcall("PERSIST", key)
return {0, state, claims, tonumber(dirty)}

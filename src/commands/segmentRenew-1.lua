--[[
  Renews the lease of a live claim (CLAIMED or LOADING) held by the caller's token.

  Input:
    KEYS[1] segment state hash

    ARGV[1] claim token
    ARGV[2] lease ms from now

  Output:
    {0, lease ms}    renewed
    {-4, state}      the claim is no longer this token's (expired and taken over, or already finished)
]]
local rcall = redis.call
-- @include "segmentNow"

local cur = rcall("HMGET", KEYS[1], "state", "token")
local state = cur[1] or "SEALED"
if (state ~= "CLAIMED" and state ~= "LOADING") or cur[2] ~= ARGV[1] then
  return {-4, state}
end
local now = segmentNowMs()
rcall("HSET", KEYS[1], "lease_until", now + tonumber(ARGV[2]), "updated_ms", now)
return {0, tonumber(ARGV[2])}

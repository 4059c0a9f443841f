--[[
  Submits an intent to the channel unless a decision for its idempotency key is already stored.

  Input:
    KEYS[1] decision key    ({hft}:decision:<idempotency_key>)
    KEYS[2] intent stream   ({hft}:stream:<name>)

    ARGV[1] stream cap: most unacknowledged entries the stream may hold
    ARGV[2] idempotency key (copied into the entry so even a malformed envelope can be answered)
    ARGV[3] envelope JSON
    ARGV[4] reply stream name of the submitting client

  Output:
     {1, decision JSON}  a decision is stored for this key: nothing is enqueued
     {0, entry id}       enqueued
    -1                   stream is at its cap: nothing is enqueued (GW_ERR_CHANNEL_FULL)

  Acknowledged entries are deleted by the consumer, so XLEN counts only entries still to be decided and
  the cap never trims an unread intent.
]]
local rcall = redis.call

local stored = rcall("GET", KEYS[1])
if stored then
  return {1, stored}
end
if rcall("XLEN", KEYS[2]) >= tonumber(ARGV[1]) then
  return -1
end
local id = rcall("XADD", KEYS[2], "*", "k", ARGV[2], "e", ARGV[3], "r", ARGV[4])
return {0, id}

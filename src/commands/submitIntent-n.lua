--[[
  Submits one or more intents to the channel, in order, each unless a decision for its idempotency key
  is already stored — exactly as separate calls in the same order would (one call saves the per-call cost
  of a script run and of a round trip per intent).

  Input (numkeys = 1 + 1 per intent, ARGV = 2 + 2 per intent; intent i counts from 1):
    KEYS[1]     intent stream   ({hft}:stream:<name>)
    KEYS[1 + i] decision key of intent i   ({hft}:decision:<idempotency_key>)

    ARGV[1] stream cap: most unacknowledged entries the stream may hold
    ARGV[2] reply stream name of the submitting client
    ARGV[1 + 2i] idempotency key of intent i (copied into the entry so even a malformed envelope can be
                 answered)
    ARGV[2 + 2i] envelope JSON of intent i

  Output: {code_1, value_1, code_2, value_2, ...}, one pair per intent, in order:
     1, decision JSON   a decision is stored for this key: nothing is enqueued
     0, entry id        enqueued
    -1, ""              stream is at its cap: nothing is enqueued (GW_ERR_CHANNEL_FULL)

  Acknowledged entries are deleted by the consumer, so XLEN counts only entries still to be decided and
  the cap never trims an unread intent.
]]
local rcall = redis.call

local count = #KEYS - 1
if count < 1 or #ARGV ~= 2 + 2 * count then
  return redis.error_reply("submitIntent: numkeys/argv")
end
local stream = KEYS[1]
local cap = tonumber(ARGV[1])
local replyTo = ARGV[2]
local length = rcall("XLEN", stream)
local out = {}
for i = 1, count do
  local stored = rcall("GET", KEYS[1 + i])
  if stored then
    out[2 * i - 1] = 1
    out[2 * i] = stored
  elseif length >= cap then
    out[2 * i - 1] = -1
    out[2 * i] = ""
  else
    out[2 * i - 1] = 0
    out[2 * i] = rcall("XADD", stream, "*", "k", ARGV[1 + 2 * i], "e", ARGV[2 + 2 * i], "r", replyTo)
    length = length + 1
  end
end
return out

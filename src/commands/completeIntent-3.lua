--[[
  Completes one delivered intent: stores its decision (first decision for a key wins), answers the
  submitter on its reply stream, acknowledges and deletes the stream entry.

  Input:
    KEYS[1] intent stream
    KEYS[2] decision key, or the empty string to reply without storing (envelope rejects, which must not
            poison the key they claim)
    KEYS[3] reply stream of the submitter, or the empty string when the entry named none

    ARGV[1] consumer group
    ARGV[2] stream entry id
    ARGV[3] decision JSON
    ARGV[4] decision TTL ms (dedup window)
    ARGV[5] reply stream cap (MAXLEN ~)
    ARGV[6] reply stream TTL ms
    ARGV[7] idempotency key (reply field)

  Output:
    {acked, decision JSON actually in force}
    acked is 1 when this call acknowledged the entry, 0 when it was no longer pending (another consumer
    already completed it after claiming it).
]]
local rcall = redis.call

local decision = ARGV[3]
if KEYS[2] ~= "" then
  local stored = rcall("SET", KEYS[2], decision, "PX", ARGV[4], "NX", "GET")
  if stored then
    decision = stored
  end
end
if KEYS[3] ~= "" then
  rcall("XADD", KEYS[3], "MAXLEN", "~", ARGV[5], "*", "k", ARGV[7], "d", decision)
  rcall("PEXPIRE", KEYS[3], ARGV[6])
end
local acked = rcall("XACK", KEYS[1], ARGV[1], ARGV[2])
rcall("XDEL", KEYS[1], ARGV[2])
return {acked, decision}

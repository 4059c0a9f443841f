--[[
  Records what happened to ADMITTED intents (ARCHITECTURE.md, safety protocol 4), one or more per call,
  each once, in order, exactly as separate calls in the same order would:
    DISPATCHED  the venue has the order: journal → DISPATCHED, decision stored for the dedup window
    REJECTED    definitive refusal (venue reject): reservation released, journal → REJECTED, decision stored
    EXPIRED     reconciliation found it absent past its ttl: released, journal → EXPIRED, decision stored
    ABORTED     surely never sent (broker unavailable, permit lost before send): released, journal entry
                deleted and no decision stored, so a later delivery of the key is admitted afresh
  An entry no longer ADMITTED is left untouched (a second recording of the same outcome is harmless).
  EXPIRED and ABORTED say "nothing is at the venue": they are recorded only by the owner of the entry's
  latest dispatch attempt (j=8), never over an attempt another dispatcher started since. An error raised
  while recording one outcome is answered for that record alone; the next records are still recorded.

  When the caller names its intent-stream entry (j=10), a recorded DISPATCHED/REJECTED also completes
  it as completeIntent-3 would (reply on the submitter's stream, XACK, XDEL): the decision just stored is
  the one in force, and the gateway saves a round trip per intent.

  Index and stream bookkeeping (ZREM from the ADMITTED index, ZADD to the open index, XACK, XDEL, the
  reply stream's PEXPIRE) is gathered and done once per call after the last record, in the same order
  per key: no record reads those keys, so the result is the one separate calls would leave.

  Input (numkeys = 3 + 7 per record, ARGV = 13 per record; record i counts from 1):
    KEYS[1] fencing epoch
    KEYS[2] journal ADMITTED index
    KEYS[3] journal open-orders index (NEW orders DISPATCHED and not yet closed)
    then per record, at KEYS[3 + 7(i-1) + j]:
      j=1 journal entry (client order id)
      j=2 decision key of the idempotency key
      j=3 exposure hash of the entry's account
      j=4 tracked-symbol set of the account (unused; declared so every exposure key is named)
      j=5 idle symbol set of the account
      j=6 intent stream (used only when completing)
      j=7 reply stream of the submitter ("" when none, or when not completing)

    per record, at ARGV[13(i-1) + j]:
      j=1  caller's fencing epoch
      j=2  outcome: DISPATCHED | REJECTED | EXPIRED | ABORTED
      j=3  decision JSON ("" for ABORTED)
      j=4  dedup window ms (decision TTL; also the journal TTL of a closed entry)
      j=5  venue order state ("" when unknown)
      j=6  client order id (member of the ADMITTED and open indexes)
      j=7  now, wall-clock ms (score in the open index)
      j=8  dispatch attempt number the caller owns (EXPIRED, ABORTED; "" for DISPATCHED, REJECTED)
      j=9  consumer group of the intent stream
      j=10 intent-stream entry id to complete ("" = do not complete)
      j=11 reply stream cap (MAXLEN ~)
      j=12 reply stream TTL ms
      j=13 idempotency key (reply field)

  Output: {code_1, detail_1, extra_1, code_2, ...}, three values per record, in order:
    { 1, lots released, completed}   recorded; completed is 1 when the stream entry was completed too
    {-1, current epoch, 0}   FENCED
    {-12, argument, 0}       BAD_ARGUMENT (also: the error a record raised)
    {-13, "", 0}             NOT_FOUND: no journal entry
    {-14, state, 0}          NOT_ADMITTED: already recorded; nothing changed
    {-15, attempt, 0}        SUPERSEDED: EXPIRED/ABORTED from an attempt that is no longer the latest
]]
local rcall = redis.call
-- @include "exposure"
-- @include "journal"

local KEYS_PER = 7
local ARGS_PER = 13
local count = (#KEYS - 3) / KEYS_PER
if count < 1 or count ~= math.floor(count) or #ARGV ~= count * ARGS_PER then
  return {-12, "numkeys/argv", 0}
end
-- Read once per call: it cannot change while the script runs.
local currentEpoch = tonumber(rcall("GET", KEYS[1]) or "0")

-- Gathered bookkeeping, applied after the last record.
local unadmitted = {}   -- client order ids leaving the ADMITTED index
local opened = {}       -- score, client order id pairs joining the open index
local acks = {}         -- "<stream>\n<group>" -> {stream, group, entry ids...}
local ackOrder = {}
local expires = {}      -- reply stream -> ttl ms
local expireOrder = {}

-- Records number `i`; returns code, detail, extra.
local function recordOne(i)
  local kb = 3 + (i - 1) * KEYS_PER
  local ab = (i - 1) * ARGS_PER
  if currentEpoch ~= tonumber(ARGV[ab + 1]) then
    return -1, currentEpoch, 0
  end
  local journalKey = KEYS[kb + 1]
  local entry = rcall("HMGET", journalKey, "state", "closed", "i", "attempt")
  local state = entry[1]
  if not state then
    return -13, "", 0
  end
  if state ~= "ADMITTED" then
    return -14, state, 0
  end

  local decision = ARGV[ab + 3]
  local coid = ARGV[ab + 6]
  local function complete()
    local entryId = ARGV[ab + 10]
    if entryId == "" then
      return 0
    end
    local replyTo = KEYS[kb + 7]
    if replyTo ~= "" then
      rcall("XADD", replyTo, "MAXLEN", "~", ARGV[ab + 11], "*", "k", ARGV[ab + 13], "d", decision)
      if not expires[replyTo] then
        expireOrder[#expireOrder + 1] = replyTo
      end
      expires[replyTo] = ARGV[ab + 12]
    end
    local stream = KEYS[kb + 6]
    local group = ARGV[ab + 9]
    local id = stream .. "\n" .. group
    local a = acks[id]
    if not a then
      a = {stream, group}
      acks[id] = a
      ackOrder[#ackOrder + 1] = a
    end
    a[#a + 1] = entryId
    return 1
  end

  local outcome = ARGV[ab + 2]
  local ttl = ARGV[ab + 4]
  local venueState = ARGV[ab + 5]
  if outcome == "DISPATCHED" then
    rcall("HSET", journalKey, "state", "DISPATCHED", "venue_state", venueState)
    unadmitted[#unadmitted + 1] = coid
    rcall("SET", KEYS[kb + 2], decision, "PX", ttl)
    if entry[2] == "1" or journalKind(journalKey, entry[3]) ~= "NEW" then
      rcall("PEXPIRE", journalKey, ttl)
    else
      opened[#opened + 1] = ARGV[ab + 7]
      opened[#opened + 1] = coid
    end
    return 1, 0, complete()
  end
  if outcome ~= "REJECTED" and outcome ~= "EXPIRED" and outcome ~= "ABORTED" then
    return -12, "outcome", 0
  end
  if outcome ~= "REJECTED" then
    local attempt = entry[4] or "1"
    local owned = ARGV[ab + 8]
    if owned == "" or tonumber(attempt) ~= tonumber(owned) then
      return -15, attempt, 0
    end
  end
  local released = journalReleaseOpen(journalKey, KEYS[kb + 3], KEYS[kb + 5])
  unadmitted[#unadmitted + 1] = coid
  if outcome == "ABORTED" then
    rcall("DEL", journalKey)
    return 1, released, 0
  end
  rcall("HSET", journalKey, "state", outcome, "venue_state", venueState, "closed", 1)
  rcall("PEXPIRE", journalKey, ttl)
  rcall("SET", KEYS[kb + 2], decision, "PX", ttl)
  return 1, released, complete()
end

local out = {}
for i = 1, count do
  local ok, code, detail, extra = pcall(recordOne, i)
  if not ok then
    exposureCacheReset()
    -- Redis 7 raises errors as tables {err = "..."}; plain Lua errors are strings.
    code, detail, extra = -12, type(code) == "table" and (code.err or "error") or tostring(code), 0
  end
  local o = 3 * (i - 1)
  out[o + 1] = code
  out[o + 2] = detail
  out[o + 3] = extra
end
exposureFlushAll()

if #unadmitted > 0 then
  rcall("ZREM", KEYS[2], unpack(unadmitted))
end
if #opened > 0 then
  rcall("ZADD", KEYS[3], unpack(opened))
end
for _, replyTo in ipairs(expireOrder) do
  rcall("PEXPIRE", replyTo, expires[replyTo])
end
for _, a in ipairs(ackOrder) do
  rcall("XACK", a[1], a[2], unpack(a, 3))
  rcall("XDEL", a[1], unpack(a, 3))
end
return out

--[[
  Records what happened to an ADMITTED intent (ARCHITECTURE.md, safety protocol 4), once:
    DISPATCHED  the venue has the order: journal → DISPATCHED, decision stored for the dedup window
    REJECTED    definitive refusal (venue reject): reservation released, journal → REJECTED, decision stored
    EXPIRED     reconciliation found it absent past its ttl: released, journal → EXPIRED, decision stored
    ABORTED     surely never sent (broker unavailable, permit lost before send): released, journal entry
                deleted and no decision stored, so a later delivery of the key is admitted afresh
  An entry no longer ADMITTED is left untouched (a second recording of the same outcome is harmless).
  EXPIRED and ABORTED say "nothing is at the venue": they are recorded only by the owner of the entry's
  latest dispatch attempt (ARGV[8]), never over an attempt another dispatcher started since.

  When the caller names its intent-stream entry (ARGV[10]), a recorded DISPATCHED/REJECTED also completes
  it as completeIntent-3 would (reply on the submitter's stream, XACK, XDEL): the decision just stored is
  the one in force, and the gateway saves a round trip per intent.

  Input:
    KEYS[1] fencing epoch
    KEYS[2] journal entry (client order id)
    KEYS[3] journal ADMITTED index
    KEYS[4] decision key of the idempotency key
    KEYS[5] exposure hash of the entry's account
    KEYS[6] tracked-symbol set of the account (unused; declared so every exposure key is named)
    KEYS[7] idle symbol set of the account
    KEYS[8] journal open-orders index (NEW orders DISPATCHED and not yet closed)
    KEYS[9] intent stream (used only when completing)
    KEYS[10] reply stream of the submitter ("" when none, or when not completing)

    ARGV[1] caller's fencing epoch
    ARGV[2] outcome: DISPATCHED | REJECTED | EXPIRED | ABORTED
    ARGV[3] decision JSON ("" for ABORTED)
    ARGV[4] dedup window ms (decision TTL; also the journal TTL of a closed entry)
    ARGV[5] venue order state ("" when unknown)
    ARGV[6] client order id (member of the ADMITTED and open indexes)
    ARGV[7] now, wall-clock ms (score in the open index)
    ARGV[8] dispatch attempt number the caller owns (EXPIRED, ABORTED; "" for DISPATCHED, REJECTED)
    ARGV[9]  consumer group of the intent stream
    ARGV[10] intent-stream entry id to complete ("" = do not complete)
    ARGV[11] reply stream cap (MAXLEN ~)
    ARGV[12] reply stream TTL ms
    ARGV[13] idempotency key (reply field)

  Output:
    { 1, lots released, completed}   recorded; completed is 1 when the stream entry was completed too
    {-1, current epoch}   FENCED
    {-12, argument}       BAD_ARGUMENT
    {-13, ""}             NOT_FOUND: no journal entry
    {-14, state}          NOT_ADMITTED: already recorded; nothing changed
    {-15, attempt}        SUPERSEDED: EXPIRED/ABORTED from an attempt that is no longer the latest
]]
local rcall = redis.call
-- @include "checkEpoch"
-- @include "exposure"

local stale = checkEpoch(KEYS[1], ARGV[1])
if stale then
  return {-1, stale}
end
local entry = rcall("HMGET", KEYS[2], "state", "closed", "kind", "attempt")
local state = entry[1]
if not state then
  return {-13, ""}
end
if state ~= "ADMITTED" then
  return {-14, state}
end

local function complete()
  if ARGV[10] == "" then
    return 0
  end
  if KEYS[10] ~= "" then
    rcall("XADD", KEYS[10], "MAXLEN", "~", ARGV[11], "*", "k", ARGV[13], "d", ARGV[3])
    rcall("PEXPIRE", KEYS[10], ARGV[12])
  end
  rcall("XACK", KEYS[9], ARGV[9], ARGV[10])
  rcall("XDEL", KEYS[9], ARGV[10])
  return 1
end

local outcome = ARGV[2]
local ttl = ARGV[4]
if outcome == "DISPATCHED" then
  rcall("HSET", KEYS[2], "state", "DISPATCHED", "venue_state", ARGV[5])
  rcall("ZREM", KEYS[3], ARGV[6])
  rcall("SET", KEYS[4], ARGV[3], "PX", ttl)
  if entry[2] == "1" or entry[3] ~= "NEW" then
    rcall("PEXPIRE", KEYS[2], ttl)
  else
    rcall("ZADD", KEYS[8], ARGV[7], ARGV[6])
  end
  return {1, 0, complete()}
end
if outcome ~= "REJECTED" and outcome ~= "EXPIRED" and outcome ~= "ABORTED" then
  return {-12, "outcome"}
end
if outcome ~= "REJECTED" then
  local attempt = entry[4] or "1"
  if ARGV[8] == "" or tonumber(attempt) ~= tonumber(ARGV[8]) then
    return {-15, attempt}
  end
end
local released = journalReleaseOpen(KEYS[2], KEYS[5], KEYS[7])
rcall("ZREM", KEYS[3], ARGV[6])
if outcome == "ABORTED" then
  rcall("DEL", KEYS[2])
  return {1, released, 0}
end
rcall("HSET", KEYS[2], "state", outcome, "venue_state", ARGV[5], "closed", 1)
rcall("PEXPIRE", KEYS[2], ttl)
rcall("SET", KEYS[4], ARGV[3], "PX", ttl)
return {1, released, complete()}

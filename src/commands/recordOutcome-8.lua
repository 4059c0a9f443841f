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

  Input:
    KEYS[1] fencing epoch
    KEYS[2] journal entry (client order id)
    KEYS[3] journal ADMITTED index
    KEYS[4] decision key of the idempotency key
    KEYS[5] exposure hash of the entry's account
    KEYS[6] tracked-symbol set of the account (unused; declared so every exposure key is named)
    KEYS[7] idle symbol set of the account
    KEYS[8] journal open-orders index (NEW orders DISPATCHED and not yet closed)

    ARGV[1] caller's fencing epoch
    ARGV[2] outcome: DISPATCHED | REJECTED | EXPIRED | ABORTED
    ARGV[3] decision JSON ("" for ABORTED)
    ARGV[4] dedup window ms (decision TTL; also the journal TTL of a closed entry)
    ARGV[5] venue order state ("" when unknown)
    ARGV[6] client order id (member of the ADMITTED and open indexes)
    ARGV[7] now, wall-clock ms (score in the open index)
    ARGV[8] dispatch attempt number the caller owns (EXPIRED, ABORTED; "" for DISPATCHED, REJECTED)

  Output:
    { 1, lots released}   recorded
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
local state = rcall("HGET", KEYS[2], "state")
if not state then
  return {-13, ""}
end
if state ~= "ADMITTED" then
  return {-14, state}
end

local outcome = ARGV[2]
local ttl = ARGV[4]
if outcome == "DISPATCHED" then
  rcall("HSET", KEYS[2], "state", "DISPATCHED", "venue_state", ARGV[5])
  rcall("ZREM", KEYS[3], ARGV[6])
  rcall("SET", KEYS[4], ARGV[3], "PX", ttl)
  local e = rcall("HMGET", KEYS[2], "closed", "kind")
  if e[1] == "1" or e[2] ~= "NEW" then
    rcall("PEXPIRE", KEYS[2], ttl)
  else
    rcall("ZADD", KEYS[8], ARGV[7], ARGV[6])
  end
  return {1, 0}
end
if outcome ~= "REJECTED" and outcome ~= "EXPIRED" and outcome ~= "ABORTED" then
  return {-12, "outcome"}
end
if outcome ~= "REJECTED" then
  local attempt = rcall("HGET", KEYS[2], "attempt") or "1"
  if ARGV[8] == "" or tonumber(attempt) ~= tonumber(ARGV[8]) then
    return {-15, attempt}
  end
end
local released = journalReleaseOpen(KEYS[2], KEYS[5], KEYS[7])
rcall("ZREM", KEYS[3], ARGV[6])
if outcome == "ABORTED" then
  rcall("DEL", KEYS[2])
  return {1, released}
end
rcall("HSET", KEYS[2], "state", outcome, "venue_state", ARGV[5], "closed", 1)
rcall("PEXPIRE", KEYS[2], ttl)
rcall("SET", KEYS[4], ARGV[3], "PX", ttl)
return {1, released}

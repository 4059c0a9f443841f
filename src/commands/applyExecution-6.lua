--[[
  Applies an execution report (or a status learned by reconciliation) to a NEW order's reservation:
  filled lots move from reserved to filled; a terminal venue state (FILLED, CANCELED, REJECTED) releases
  whatever is still reserved and closes the entry. Idempotent: fills are applied by cumulative quantity,
  so a repeated or out-of-order report changes nothing. Works in ADMITTED too, since a venue may report a
  fill before the gateway has recorded the place answer.

  Input:
    KEYS[1] fencing epoch
    KEYS[2] journal entry (client order id)
    KEYS[3] exposure hash of the entry's account
    KEYS[4] tracked-symbol set of the account (unused; declared so every exposure key is named)
    KEYS[5] idle symbol set of the account
    KEYS[6] journal open-orders index

    ARGV[1] caller's fencing epoch
    ARGV[2] cumulative filled lots reported by the venue
    ARGV[3] 1 when the venue state is terminal, else 0
    ARGV[4] venue order state
    ARGV[5] journal TTL of a closed entry (dedup window ms)
    ARGV[6] client order id (member of the open index)

  Output:
    { 1, lots filled now, lots released}   applied (either may be 0)
    { 0, ""}                               nothing to do (not a NEW order, or already closed)
    {-1, current epoch}                    FENCED
    {-13, ""}                              NOT_FOUND: no journal entry (not ours, or expired)
]]
local rcall = redis.call
-- @include "checkEpoch"
-- @include "exposure"
-- @include "journal"

local stale = checkEpoch(KEYS[1], ARGV[1])
if stale then
  return {-1, stale}
end
local e = rcall("HMGET", KEYS[2], "state", "i", "open_qty", "filled_qty", "closed")
if not e[1] then
  return {-13, ""}
end
if e[5] == "1" then
  return {0, ""}
end
local f = journalImmutable(KEYS[2], e[2], {"kind", "strategy", "symbol", "side", "price"})
if f.kind ~= "NEW" then
  return {0, ""}
end
local price = tonumber(f.price)
local open = tonumber(e[3])
local filled = tonumber(e[4])
local cum = tonumber(ARGV[2]) or 0
local fillNow = cum - filled
if fillNow > open then
  fillNow = open
end
if fillNow > 0 then
  exposureApply(KEYS[3], KEYS[5], f.strategy, f.symbol, exposureFillDeltas(f.side, fillNow, price))
  rcall("HSET", KEYS[2], "open_qty", open - fillNow, "filled_qty", filled + fillNow)
else
  fillNow = 0
end
local released = 0
rcall("HSET", KEYS[2], "venue_state", ARGV[4])
if ARGV[3] == "1" then
  released = journalReleaseOpen(KEYS[2], KEYS[3], KEYS[5])
  rcall("HSET", KEYS[2], "closed", 1)
  rcall("ZREM", KEYS[6], ARGV[6])
  if e[1] ~= "ADMITTED" then
    rcall("PEXPIRE", KEYS[2], ARGV[5])
  end
end
exposureFlushAll()
return {1, fillNow, released}

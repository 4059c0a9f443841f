--[[
  Starts a new dispatch attempt of an orphaned ADMITTED journal entry (reconciliation's re-dispatch), as a
  compare-and-set on the attempt number, so that at most one dispatcher owns a client order id's send at
  any time. An entry is orphaned when its latest attempt was made under an older epoch (that leader can no
  longer send: self-fencing by time), or began at least the orphan age ago by this server's clock (its
  dispatcher sends only within its send window, shorter than the orphan age, and gives up after it).

  Input:
    KEYS[1] fencing epoch
    KEYS[2] journal entry (client order id)
    KEYS[3] journal ADMITTED index

    ARGV[1] caller's fencing epoch
    ARGV[2] attempt number the caller read (the one it supersedes)
    ARGV[3] orphan age ms
    ARGV[4] client order id (member of the ADMITTED index)

  Output:
    { 1, new attempt number}   this caller owns the new attempt: send within its send window
    {-1, current epoch}        FENCED
    {-13, ""}                  NOT_FOUND: no journal entry
    {-14, state}               NOT_ADMITTED: resolved meanwhile; nothing to send
    {-15, attempt}             SUPERSEDED: another attempt started since the caller read the entry
    {-16, age ms}              ATTEMPT_LIVE: the latest attempt is this epoch's and younger than the age
]]
local rcall = redis.call
-- @include "checkEpoch"

local stale = checkEpoch(KEYS[1], ARGV[1])
if stale then
  return {-1, stale}
end
local e = rcall("HMGET", KEYS[2], "state", "attempt", "attempt_ms", "attempt_epoch", "admitted_ms", "epoch")
if not e[1] then
  return {-13, ""}
end
if e[1] ~= "ADMITTED" then
  return {-14, e[1]}
end
-- Entries written before attempts were recorded count as attempt 1 made at admission.
local attempt = tonumber(e[2] or "1")
if attempt ~= tonumber(ARGV[2]) then
  return {-15, attempt}
end
local t = rcall("TIME")
local nowMs = t[1] * 1000 + math.floor(t[2] / 1000)
local age = nowMs - tonumber(e[3] or e[5] or "0")
local attemptEpoch = tonumber(e[4] or e[6] or "0")
if attemptEpoch >= tonumber(ARGV[1]) and age < tonumber(ARGV[3]) then
  return {-16, age}
end
local ms = string.format("%d", nowMs)
rcall("HSET", KEYS[2], "attempt", attempt + 1, "attempt_ms", ms, "attempt_epoch", ARGV[1])
rcall("ZADD", KEYS[3], ms, ARGV[4])
return {1, attempt + 1}

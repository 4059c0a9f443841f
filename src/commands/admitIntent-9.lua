--[[
  Admits one intent atomically (ARCHITECTURE.md, safety protocol 4): epoch check → dedup lookup →
  policy → exposure check-and-reserve → dispatch journal entry ADMITTED. Nothing is written unless the
  intent is admitted, so every reject leaves Redis exactly as it was.

  The entry also records dispatch attempt 1 (attempt, attempt_ms by this Redis server's clock,
  attempt_epoch): the caller sends right after this answer, only within its send window, and
  reconciliation leaves the entry alone until that attempt is older than its orphan age (markAttempt-3).
  The ADMITTED index is scored by attempt_ms, the same clock reconciliation reads with TIME.

  Input:
    KEYS[1] fencing epoch
    KEYS[2] policy hash (field mode: NORMAL | DEGRADED | HALT; missing = NORMAL)
    KEYS[3] decision key of the idempotency key (the dedup window)
    KEYS[4] journal entry of this intent's client order id (the in-flight marker)
    KEYS[5] journal ADMITTED index (sorted set, score: start of the latest dispatch attempt, server ms)
    KEYS[6] exposure hash of the account
    KEYS[7] tracked-symbol set of the account
    KEYS[8] idle (zero-balance) symbol set of the account
    KEYS[9] journal entry of the target client order id (CANCEL); KEYS[4] again for NEW

    ARGV[1]  caller's fencing epoch
    ARGV[2]  local policy floor (NORMAL | DEGRADED | HALT): this process's own view (StormGuard, WAL)
    ARGV[3]  kind: NEW | CANCEL
    ARGV[4]  client order id
    ARGV[5]  idempotency key
    ARGV[6]  account
    ARGV[7]  strategy id
    ARGV[8]  symbol
    ARGV[9]  side: BUY | SELL
    ARGV[10] qty (lots)
    ARGV[11] price (scaled)
    ARGV[12] tif
    ARGV[13] now, wall-clock ms
    ARGV[14] ttl deadline, wall-clock ms
    ARGV[15] symbol notional limit
    ARGV[16] strategy notional limit
    ARGV[17] account notional limit
    ARGV[18] most symbols the account may track
    ARGV[19] trace id
    ARGV[20] intent id
    ARGV[21] source_ts_ns
    ARGV[22] target client order id ("" for NEW)

  Output ({code, detail}):
    { 1, notional}            ADMITTED: reserved and journaled
    {-1, current epoch}       FENCED
    {-2, decision JSON}       DUPLICATE: the stored decision for this key
    {-3, journal state}       IN_FLIGHT: the key is ADMITTED by another delivery; do not dispatch
    {-4, journal state}       RESOLVED: the key has a journal entry past ADMITTED but no stored decision
    {-5, mode}                POLICY_HALT
    {-6, mode}                POLICY_REDUCE_ONLY
    {-7, detail}              EXPOSURE_SYMBOL_LIMIT
    {-8, detail}              EXPOSURE_STRATEGY_LIMIT
    {-9, detail}              EXPOSURE_ACCOUNT_LIMIT
    {-10, tracked}            EXPOSURE_LIMIT: tracked-symbol bound reached, nothing idle to evict
    {-11, target}             UNKNOWN_ORDER: cancel target not journaled for this account
    {-12, argument}           BAD_ARGUMENT
]]
local rcall = redis.call
-- @include "checkEpoch"
-- @include "exposure"

local stale = checkEpoch(KEYS[1], ARGV[1])
if stale then
  return {-1, stale}
end

local stored = rcall("GET", KEYS[3])
if stored then
  return {-2, stored}
end
local journalState = rcall("HGET", KEYS[4], "state")
if journalState == "ADMITTED" then
  return {-3, journalState}
elseif journalState then
  return {-4, journalState}
end

local severity = {NORMAL = 0, DEGRADED = 1, HALT = 2}
local mode = rcall("HGET", KEYS[2], "mode") or "NORMAL"
if not severity[mode] then
  mode = "HALT" -- an unreadable mode fails safe
end
local floor = ARGV[2]
if not severity[floor] then
  return {-12, "policy floor"}
end
if severity[floor] > severity[mode] then
  mode = floor
end

local kind = ARGV[3]
local coid = ARGV[4]
local account = ARGV[6]
local strategy = ARGV[7]
local symbol = ARGV[8]
local side = ARGV[9]
local qty = tonumber(ARGV[10])
local price = tonumber(ARGV[11])
local nowMs = ARGV[13]

local function journal(notional, openQty)
  local t = rcall("TIME")
  local attemptMs = string.format("%d", t[1] * 1000 + math.floor(t[2] / 1000))
  rcall("HSET", KEYS[4],
    "state", "ADMITTED", "kind", kind, "key", ARGV[5], "coid", coid, "account", account,
    "strategy", strategy, "symbol", symbol, "side", side, "qty", ARGV[10], "price", ARGV[11],
    "tif", ARGV[12], "notional", string.format("%d", notional), "open_qty", openQty, "filled_qty", 0,
    "epoch", ARGV[1], "admitted_ms", nowMs, "deadline_ms", ARGV[14], "trace_id", ARGV[19],
    "intent_id", ARGV[20], "source_ts_ns", ARGV[21], "target", ARGV[22],
    "attempt", 1, "attempt_ms", attemptMs, "attempt_epoch", ARGV[1])
  rcall("ZADD", KEYS[5], attemptMs, coid)
end

if kind == "CANCEL" then
  -- Cancels are always allowed (HALT included); they reserve nothing.
  local targetAccount = rcall("HGET", KEYS[9], "account")
  if ARGV[22] == "" or targetAccount ~= account then
    return {-11, ARGV[22]}
  end
  journal(0, 0)
  return {1, 0}
end
if kind ~= "NEW" or (side ~= "BUY" and side ~= "SELL") or not qty or not price or qty < 1 or price < 1 then
  return {-12, "kind/side/qty/price"}
end
local notional = qty * price
if notional > 9007199254740991 then
  return {-12, "notional above 2^53-1"}
end

if mode == "HALT" then
  return {-5, mode}
end
local exposure = exposureLoad(KEYS[6], strategy, symbol)
local symbolLevel = exposure.levels[2]
if mode == "DEGRADED" then
  -- Reducing: the order, with every reservation on its side, cannot take the net position past zero.
  local reducing
  if side == "BUY" then
    reducing = symbolLevel.q < 0 and symbolLevel.q + symbolLevel.rbq + qty <= 0
  else
    reducing = symbolLevel.q > 0 and symbolLevel.q - symbolLevel.rsq - qty >= 0
  end
  if not reducing then
    return {-6, mode}
  end
end

local function over(v, limit)
  if side == "BUY" then
    return v.fn + v.rb + notional > limit, v.fn + v.rb
  end
  return v.rs - v.fn + notional > limit, v.rs - v.fn
end
local checks = {
  {symbolLevel, tonumber(ARGV[15]), -7, "symbol " .. symbol},
  {exposure.levels[3], tonumber(ARGV[16]), -8, "strategy " .. strategy},
  {exposure.levels[4], tonumber(ARGV[17]), -9, "account " .. account},
}
for _, c in ipairs(checks) do
  local exceeded, current = over(c[1], c[2])
  if exceeded then
    return {c[3], string.format("%s %s side: %d + %d > %d", c[4], side, current, notional, c[2])}
  end
end

if rcall("SISMEMBER", KEYS[7], symbol) == 0 then
  local tracked = rcall("SCARD", KEYS[7])
  if tracked >= tonumber(ARGV[18]) then
    local evicted = rcall("SPOP", KEYS[8])
    if not evicted then
      return {-10, tracked}
    end
    local fields = {"S|" .. evicted .. "|pn"}
    for _, m in ipairs(EXPOSURE_METRICS) do
      fields[#fields + 1] = "S|" .. evicted .. "|" .. m
    end
    rcall("HDEL", KEYS[6], unpack(fields))
    rcall("SREM", KEYS[7], evicted)
  end
  rcall("SADD", KEYS[7], symbol)
end

if side == "BUY" then
  exposureCommit(KEYS[6], KEYS[8], symbol, exposure, {rbq = qty, rb = notional})
else
  exposureCommit(KEYS[6], KEYS[8], symbol, exposure, {rsq = qty, rs = notional})
end
journal(notional, qty)
return {1, notional}

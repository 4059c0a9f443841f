--[[
  Admits one or more intents atomically, in order (ARCHITECTURE.md, safety protocol 4). For each intent:
  epoch check → dedup lookup → policy → exposure check-and-reserve → dispatch journal entry ADMITTED.
  Nothing is written for an intent unless it is admitted, so every reject leaves Redis exactly as it
  was. The intents of one call are decided one after the other exactly as separate calls in the same order
  would decide them (a later intent sees what an earlier one reserved or journaled); one call saves the
  per-call cost of a script run and of a round trip per intent (docs/gateway.md, Benchmark). An error
  raised while deciding one intent (a bug, a wrong key type) is answered for that intent alone and the
  next intents are still decided.

  Each entry also records dispatch attempt 1 (attempt, attempt_ms by this Redis server's clock,
  attempt_epoch): the caller sends right after this answer, only within its send window, and
  reconciliation leaves the entry alone until that attempt is older than its orphan age (markAttempt-3).
  The ADMITTED index is scored by attempt_ms, the same clock reconciliation reads with TIME.

  Input (numkeys = 3 + 6 per intent, ARGV = 16 per intent; intent i counts from 1):
    KEYS[1] fencing epoch
    KEYS[2] policy hash (field mode: NORMAL | DEGRADED | HALT; missing = NORMAL)
    KEYS[3] journal ADMITTED index (sorted set, score: start of the latest dispatch attempt, server ms)
    then per intent, at KEYS[3 + 6(i-1) + j]:
      j=1 decision key of the idempotency key (the dedup window)
      j=2 journal entry of this intent's client order id (the in-flight marker)
      j=3 exposure hash of the account
      j=4 tracked-symbol set of the account
      j=5 idle (zero-balance) symbol set of the account
      j=6 journal entry of the target client order id (CANCEL); j=2 again for NEW

    per intent, at ARGV[16(i-1) + j]:
      j=1  caller's fencing epoch
      j=2  local policy floor (NORMAL | DEGRADED | HALT): this process's own view (StormGuard, WAL)
      j=3  kind: NEW | CANCEL
      j=4  client order id
      j=5  account
      j=6  strategy id
      j=7  symbol
      j=8  side: BUY | SELL
      j=9  qty (lots)
      j=10 price (scaled)
      j=11 symbol notional limit
      j=12 strategy notional limit
      j=13 account notional limit
      j=14 most symbols the account may track
      j=15 target client order id ("" for NEW)
      j=16 the journal entry's immutable values, packed (includes/journal.lua): built by the gateway from
           the same envelope as j=3..j=10 and j=15, stored as they are in field "i"

  Output: {code_1, detail_1, code_2, detail_2, ...}, one pair per intent, in order:
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
    {-12, argument}           BAD_ARGUMENT (also: the error an intent raised)
]]
local rcall = redis.call
-- @include "exposure"
-- @include "journal"

local KEYS_PER = 6
local ARGS_PER = 16
local count = (#KEYS - 3) / KEYS_PER
if count < 1 or count ~= math.floor(count) or #ARGV ~= count * ARGS_PER then
  return {-12, "numkeys/argv"}
end

-- Read once per call: neither can change while the script runs.
local currentEpoch = tonumber(rcall("GET", KEYS[1]) or "0")
local severity = {NORMAL = 0, DEGRADED = 1, HALT = 2}
local clusterMode = rcall("HGET", KEYS[2], "mode") or "NORMAL"
if not severity[clusterMode] then
  clusterMode = "HALT" -- an unreadable mode fails safe
end
local attemptMs
local EXPLAIN = {"symbol ", "strategy ", "account "}

-- Decides intent number `i`; returns code, detail.
local function admitOne(i)
  local kb = 3 + (i - 1) * KEYS_PER
  local ab = (i - 1) * ARGS_PER
  local epoch = ARGV[ab + 1]
  if currentEpoch ~= tonumber(epoch) then
    return -1, currentEpoch
  end
  local decisionKey = KEYS[kb + 1]
  local journalKey = KEYS[kb + 2]
  local stored = rcall("GET", decisionKey)
  if stored then
    return -2, stored
  end
  local journalState = rcall("HGET", journalKey, "state")
  if journalState == "ADMITTED" then
    return -3, journalState
  elseif journalState then
    return -4, journalState
  end

  local mode = clusterMode
  local floor = ARGV[ab + 2]
  if not severity[floor] then
    return -12, "policy floor"
  end
  if severity[floor] > severity[mode] then
    mode = floor
  end

  local kind = ARGV[ab + 3]
  local coid = ARGV[ab + 4]
  local account = ARGV[ab + 5]
  local strategy = ARGV[ab + 6]
  local symbol = ARGV[ab + 7]
  local side = ARGV[ab + 8]
  local qty = tonumber(ARGV[ab + 9])
  local price = tonumber(ARGV[ab + 10])
  local target = ARGV[ab + 15]

  local function journal(openQty)
    if not attemptMs then
      local t = rcall("TIME")
      attemptMs = string.format("%d", t[1] * 1000 + math.floor(t[2] / 1000))
    end
    rcall("HSET", journalKey, "state", "ADMITTED", "i", ARGV[ab + 16], "open_qty", openQty, "filled_qty", 0,
      "attempt", 1, "attempt_ms", attemptMs, "attempt_epoch", epoch)
    rcall("ZADD", KEYS[3], attemptMs, coid)
  end

  if kind == "CANCEL" then
    -- Cancels are always allowed (HALT included); they reserve nothing.
    if target == "" then
      return -11, target
    end
    local targetKey = KEYS[kb + 6]
    local packed = rcall("HGET", targetKey, "i")
    local targetAccount = journalImmutable(targetKey, packed, {"account"}).account
    if targetAccount ~= account then
      return -11, target
    end
    journal(0)
    return 1, 0
  end
  if kind ~= "NEW" or (side ~= "BUY" and side ~= "SELL") or not qty or not price or qty < 1 or price < 1 then
    return -12, "kind/side/qty/price"
  end
  local notional = qty * price
  if notional > 9007199254740991 then
    return -12, "notional above 2^53-1"
  end

  if mode == "HALT" then
    return -5, mode
  end
  local exposureKey = KEYS[kb + 3]
  local exposure = exposureLoad(exposureKey, strategy, symbol)
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
      return -6, mode
    end
  end

  -- Worst case on the intent's side at the symbol, strategy and account levels.
  for c = 1, 3 do
    local v = exposure.levels[c + 1]
    local limit = tonumber(ARGV[ab + 10 + c])
    local current
    if side == "BUY" then
      current = v.fn + v.rb
    else
      current = v.rs - v.fn
    end
    if current + notional > limit then
      local level = EXPLAIN[c] .. ({symbol, strategy, account})[c]
      return -6 - c, string.format("%s %s side: %d + %d > %d", level, side, current, notional, limit)
    end
  end

  local symbolsKey = KEYS[kb + 4]
  local idleKey = KEYS[kb + 5]
  if rcall("SISMEMBER", symbolsKey, symbol) == 0 then
    local tracked = rcall("SCARD", symbolsKey)
    if tracked >= tonumber(ARGV[ab + 14]) then
      local evicted = rcall("SPOP", idleKey)
      if not evicted then
        return -10, tracked
      end
      local prefix = "S|" .. evicted .. "|"
      local fields = {prefix .. "pn"}
      for mi = 1, 6 do
        fields[mi + 1] = prefix .. EXPOSURE_METRICS[mi]
      end
      rcall("HDEL", exposureKey, unpack(fields))
      exposureForget(exposureKey, evicted)
      rcall("SREM", symbolsKey, evicted)
    end
    rcall("SADD", symbolsKey, symbol)
  end

  if side == "BUY" then
    exposureCommit(exposureKey, idleKey, symbol, exposure, {rbq = qty, rb = notional})
  else
    exposureCommit(exposureKey, idleKey, symbol, exposure, {rsq = qty, rs = notional})
  end
  journal(qty)
  return 1, notional
end

local out = {}
for i = 1, count do
  local ok, code, detail = pcall(admitOne, i)
  if not ok then
    exposureCacheReset()
    -- Redis 7 raises errors as tables {err = "..."}; plain Lua errors are strings.
    code, detail = -12, type(code) == "table" and (code.err or "error") or tostring(code)
  end
  out[2 * i - 1] = code
  out[2 * i] = detail
end
exposureFlushAll()
return out

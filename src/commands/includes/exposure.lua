--[[
  Exposure hash helpers (gateway scripts). One hash per account; each level holds six integer metrics:
    q   filled net lots (signed: BUY +, SELL -)      fn  filled net notional (signed)
    rbq reserved BUY lots                            rb  reserved BUY notional
    rsq reserved SELL lots                           rs  reserved SELL notional
  Levels: "P|<strategy>|<symbol>" (the pair), "S|<symbol>", "T|<strategy>", "A" (the account).
  All values are scaled integers ≤ 2^53-1, exact in Lua doubles. A script reads the four levels of
  (strategy, symbol) with one HMGET (only those it has not read yet in this run) and writes them back
  with one HSET.

  Worst-case exposure of a level: BUY side fn + rb, SELL side rs - fn. A new BUY of notional n is allowed
  when fn + rb + n ≤ limit (a SELL: rs - fn + n ≤ limit), so an intent that only reduces never trips a
  limit, and reserved intents count as if they will fill.

  A pair or strategy level whose metrics are all zero is deleted at once. A symbol level at zero stays
  tracked but joins the idle set once none of its pairs holds anything ("S|<symbol>|pn" = 0); when a new
  symbol meets the tracked-symbol bound, idle symbols are evicted first.
]]
local EXPOSURE_METRICS = {"q", "fn", "rbq", "rb", "rsq", "rs"}

-- Every commit writes this field, whose value is longer than hash-max-listpack-value (64): it pins the
-- hash to the hashtable encoding from its first write. A listpack hash (Redis 7 keeps up to 512 fields
-- that way) finds each field by a linear scan, and the scripts read 25 fields and write up to 13 per
-- intent: with ~300 fields the admit script cost twice the Redis CPU (bench/gateway/script-cost.ts,
-- docs/gateway.md). Readers skip it (not a "<level>|<metric>" field).
local EXPOSURE_ENCODING_FIELD = "~encoding"
local EXPOSURE_ENCODING_PIN =
  "hashtable: field lookups stay O(1) at any size; see src/commands/includes/exposure.lua"

local function exposureIsZero(v)
  return v.q == 0 and v.fn == 0 and v.rbq == 0 and v.rb == 0 and v.rsq == 0 and v.rs == 0
end

-- Per script run, per exposure hash: the levels already read (name -> metrics table), the symbols' pair
-- counts, and whether the encoding pin was written. A batch of intents (admitIntent-n, recordOutcome-n)
-- mostly shares its account and strategies: each level is read once per run, not once per intent, and
-- the field names are built once. Valid because nothing else writes the hash while the script runs and
-- every write goes through exposureCommit, which updates these very tables in place (write-through), and
-- the symbol eviction (admitIntent-n) drops what it deletes (exposureForget).
local exposureCaches = {}
local exposureFieldNames = {}

-- The six field names of level `name`, built once per script run.
local function exposureFields(name)
  local f = exposureFieldNames[name]
  if not f then
    local prefix = name .. "|"
    f = {}
    for mi = 1, 6 do
      f[mi] = prefix .. EXPOSURE_METRICS[mi]
    end
    exposureFieldNames[name] = f
  end
  return f
end

local function exposureCache(hash)
  local c = exposureCaches[hash]
  if not c then
    c = {levels = {}, pn = {}, pinned = false}
    exposureCaches[hash] = c
  end
  return c
end

-- Reads the four levels of (strategy, symbol) and the symbol's pair count, with ONE HMGET of what this run
-- has not read yet. Returns {names = {P, S, T, A}, levels = {metrics per level}, pn = number,
-- symbol = symbol, cache = the hash's cache}.
local function exposureLoad(hash, strategy, symbol)
  local c = exposureCache(hash)
  local names = {"P|" .. strategy .. "|" .. symbol, "S|" .. symbol, "T|" .. strategy, "A"}
  local levels = {}
  local want = {}
  local missing = {}
  local nw = 0
  for li = 1, 4 do
    local v = c.levels[names[li]]
    if v then
      levels[li] = v
    else
      missing[#missing + 1] = li
      local f = exposureFields(names[li])
      for mi = 1, 6 do
        want[nw + mi] = f[mi]
      end
      nw = nw + 6
    end
  end
  local pn = c.pn[symbol]
  if pn == nil then
    want[nw + 1] = names[2] .. "|pn"
  end
  if #want > 0 then
    local raw = rcall("HMGET", hash, unpack(want))
    local i = 0
    for _, li in ipairs(missing) do
      local v = {}
      for mi = 1, 6 do
        v[EXPOSURE_METRICS[mi]] = tonumber(raw[i + mi] or 0)
      end
      i = i + 6
      levels[li] = v
      c.levels[names[li]] = v
    end
    if pn == nil then
      pn = tonumber(raw[i + 1] or 0)
    end
  end
  return {names = names, levels = levels, pn = pn, symbol = symbol, cache = c}
end

-- Forgets everything read: after an error raised mid-intent (a write may have failed after the level
-- tables changed), the next intent reads the hash again.
local function exposureCacheReset()
  exposureCaches = {}
end

-- Drops a symbol level deleted outside exposureCommit (eviction) from the run's cache.
local function exposureForget(hash, symbol)
  local c = exposureCache(hash)
  c.levels["S|" .. symbol] = nil
  c.pn[symbol] = nil
end

-- Applies `deltas` (metric -> signed integer) to every loaded level and writes the result in one HSET,
-- then keeps the zero-balance bookkeeping: empty pair/strategy levels are deleted; "S|<symbol>|pn" counts
-- the symbol's non-empty pairs, and the symbol is idle (evictable) only when its level and all its pairs
-- are empty — two strategies netting to zero do not make a symbol idle. Values are written as "%d" of
-- doubles: exact, since every level stays within its limit ≤ 2^53-1. The level tables are the run's
-- cache: changing them here is what keeps the cache equal to the hash.
local function exposureCommit(hash, idleKey, symbol, state, deltas)
  local pairWasZero = exposureIsZero(state.levels[1])
  local set = {}
  local ns = 0
  local del = {}
  local nd = 0
  for li = 1, 4 do
    local v = state.levels[li]
    for m, d in pairs(deltas) do
      v[m] = v[m] + d
    end
    local fields = exposureFields(state.names[li])
    if (li == 1 or li == 3) and exposureIsZero(v) then
      for mi = 1, 6 do
        nd = nd + 1
        del[nd] = fields[mi]
      end
    else
      for mi = 1, 6 do
        local m = EXPOSURE_METRICS[mi]
        local d = deltas[m]
        if li == 2 or (d and d ~= 0) then
          set[ns + 1] = fields[mi]
          set[ns + 2] = string.format("%d", v[m])
          ns = ns + 2
        end
      end
    end
  end
  local pairIsZero = exposureIsZero(state.levels[1])
  if pairWasZero and not pairIsZero then
    state.pn = state.pn + 1
  elseif pairIsZero and not pairWasZero then
    state.pn = state.pn - 1
  end
  state.cache.pn[symbol] = state.pn
  set[ns + 1] = state.names[2] .. "|pn"
  set[ns + 2] = state.pn
  if not state.cache.pinned then
    set[ns + 3] = EXPOSURE_ENCODING_FIELD
    set[ns + 4] = EXPOSURE_ENCODING_PIN
  end
  rcall("HSET", hash, unpack(set))
  state.cache.pinned = true
  if nd > 0 then
    rcall("HDEL", hash, unpack(del))
  end
  if state.pn == 0 and exposureIsZero(state.levels[2]) then
    rcall("SADD", idleKey, symbol)
  else
    rcall("SREM", idleKey, symbol)
  end
end

-- Loads and applies in one go (release, fill paths).
local function exposureApply(hash, idleKey, strategy, symbol, deltas)
  exposureCommit(hash, idleKey, symbol, exposureLoad(hash, strategy, symbol), deltas)
end

-- Deltas that release `lots` reserved lots of an order at `price` on `side`.
local function exposureReleaseDeltas(side, lots, price)
  if side == "BUY" then
    return {rbq = -lots, rb = -lots * price}
  end
  return {rsq = -lots, rs = -lots * price}
end

-- Deltas that move `lots` of an order from reserved to filled (valued at the order price, as reserved).
local function exposureFillDeltas(side, lots, price)
  if side == "BUY" then
    return {rbq = -lots, rb = -lots * price, q = lots, fn = lots * price}
  end
  return {rsq = -lots, rs = -lots * price, q = -lots, fn = -lots * price}
end

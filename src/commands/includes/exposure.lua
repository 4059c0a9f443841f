--[[
  Exposure hash helpers (gateway scripts). One hash per account; each level holds six integer metrics:
    q   filled net lots (signed: BUY +, SELL -)      fn  filled net notional (signed)
    rbq reserved BUY lots                            rb  reserved BUY notional
    rsq reserved SELL lots                           rs  reserved SELL notional
  Levels: "P|<strategy>|<symbol>" (the pair), "S|<symbol>", "T|<strategy>", "A" (the account).
  All values are scaled integers ≤ 2^53-1, exact in Lua doubles. A script reads the four levels of
  (strategy, symbol) with one HMGET and writes them back with one HSET.

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

-- Reads the four levels of (strategy, symbol) and the symbol's pair count in ONE HMGET. Returns
-- {names = {P, S, T, A}, fields = the 24 field names (level-major) then "S|<symbol>|pn",
-- levels = {values per level}, pn = number}. The field names are built once here and reused by
-- exposureCommit: Lua string building is most of what these scripts cost (bench/gateway/script-cost.ts).
local function exposureLoad(hash, strategy, symbol)
  local names = {"P|" .. strategy .. "|" .. symbol, "S|" .. symbol, "T|" .. strategy, "A"}
  local fields = {}
  local n = 0
  for li = 1, 4 do
    local prefix = names[li] .. "|"
    for mi = 1, 6 do
      n = n + 1
      fields[n] = prefix .. EXPOSURE_METRICS[mi]
    end
  end
  fields[25] = names[2] .. "|pn"
  local raw = rcall("HMGET", hash, unpack(fields))
  local levels = {}
  local i = 0
  for li = 1, 4 do
    local v = {}
    for mi = 1, 6 do
      i = i + 1
      v[EXPOSURE_METRICS[mi]] = tonumber(raw[i] or 0)
    end
    levels[li] = v
  end
  return {names = names, fields = fields, levels = levels, pn = tonumber(raw[25] or 0)}
end

-- Applies `deltas` (metric -> signed integer) to every loaded level and writes the result in one HSET,
-- then keeps the zero-balance bookkeeping: empty pair/strategy levels are deleted; "S|<symbol>|pn" counts
-- the symbol's non-empty pairs, and the symbol is idle (evictable) only when its level and all its pairs
-- are empty — two strategies netting to zero do not make a symbol idle. Values are written as "%d" of
-- doubles: exact, since every level stays within its limit ≤ 2^53-1.
local function exposureCommit(hash, idleKey, symbol, state, deltas)
  local pairWasZero = exposureIsZero(state.levels[1])
  local fields = state.fields
  local set = {}
  local ns = 0
  local del = {}
  local nd = 0
  for li = 1, 4 do
    local v = state.levels[li]
    for m, d in pairs(deltas) do
      v[m] = v[m] + d
    end
    local base = (li - 1) * 6
    if (li == 1 or li == 3) and exposureIsZero(v) then
      for mi = 1, 6 do
        nd = nd + 1
        del[nd] = fields[base + mi]
      end
    else
      for mi = 1, 6 do
        local m = EXPOSURE_METRICS[mi]
        local d = deltas[m]
        if li == 2 or (d and d ~= 0) then
          set[ns + 1] = fields[base + mi]
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
  set[ns + 1] = fields[25]
  set[ns + 2] = state.pn
  set[ns + 3] = EXPOSURE_ENCODING_FIELD
  set[ns + 4] = EXPOSURE_ENCODING_PIN
  rcall("HSET", hash, unpack(set))
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

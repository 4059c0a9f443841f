--[[
  Exposure hash helpers (gateway scripts). One hash per account; each level holds six integer metrics:
    q   filled net lots (signed: BUY +, SELL -)      fn  filled net notional (signed)
    rbq reserved BUY lots                            rb  reserved BUY notional
    rsq reserved SELL lots                           rs  reserved SELL notional
  Levels: "P|<strategy>|<symbol>" (the pair), "S|<symbol>", "T|<strategy>", "A" (the account).
  All values are scaled integers ≤ 2^53-1, exact in Lua doubles; writes go through HINCRBY (int64).

  Worst-case exposure of a level: BUY side fn + rb, SELL side rs - fn. A new BUY of notional n is allowed
  when fn + rb + n ≤ limit (a SELL: rs - fn + n ≤ limit), so an intent that only reduces never trips a
  limit, and reserved intents count as if they will fill.

  A pair or strategy level whose metrics are all zero is deleted at once. A symbol level at zero stays
  tracked but joins the idle set once none of its pairs holds anything ("S|<symbol>|pn" = 0); when a new
  symbol meets the tracked-symbol bound, idle symbols are evicted first.
]]
local EXPOSURE_METRICS = {"q", "fn", "rbq", "rb", "rsq", "rs"}

local function exposureLevels(strategy, symbol)
  return {"P|" .. strategy .. "|" .. symbol, "S|" .. symbol, "T|" .. strategy, "A"}
end

local function exposureRead(hash, level)
  local fields = {}
  for i, m in ipairs(EXPOSURE_METRICS) do
    fields[i] = level .. "|" .. m
  end
  local raw = rcall("HMGET", hash, unpack(fields))
  local out = {}
  for i, m in ipairs(EXPOSURE_METRICS) do
    out[m] = tonumber(raw[i] or "0")
  end
  return out
end

local function exposureIsZero(v)
  return v.q == 0 and v.fn == 0 and v.rbq == 0 and v.rb == 0 and v.rsq == 0 and v.rs == 0
end

-- Applies `deltas` (metric -> signed integer) to every level of (strategy, symbol), then keeps the
-- zero-balance bookkeeping: empty pair/strategy levels are deleted; "S|<symbol>|pn" counts the symbol's
-- non-empty pairs, and the symbol is idle (evictable) only when its level and all its pairs are empty —
-- two strategies netting to zero do not make a symbol idle.
local function exposureApply(hash, idleKey, strategy, symbol, deltas)
  local levels = exposureLevels(strategy, symbol)
  local pairWasZero = exposureIsZero(exposureRead(hash, levels[1]))
  for _, level in ipairs(levels) do
    for _, m in ipairs(EXPOSURE_METRICS) do
      local d = deltas[m]
      if d and d ~= 0 then
        rcall("HINCRBY", hash, level .. "|" .. m, string.format("%d", d))
      end
    end
  end
  local pairIsZero = exposureIsZero(exposureRead(hash, levels[1]))
  local pairCount = 0
  if pairWasZero and not pairIsZero then
    pairCount = rcall("HINCRBY", hash, levels[2] .. "|pn", 1)
  elseif pairIsZero and not pairWasZero then
    pairCount = rcall("HINCRBY", hash, levels[2] .. "|pn", -1)
  else
    pairCount = tonumber(rcall("HGET", hash, levels[2] .. "|pn") or "0")
  end
  for _, idx in ipairs({1, 3}) do
    if exposureIsZero(exposureRead(hash, levels[idx])) then
      local fields = {}
      for i, m in ipairs(EXPOSURE_METRICS) do
        fields[i] = levels[idx] .. "|" .. m
      end
      rcall("HDEL", hash, unpack(fields))
    end
  end
  if pairCount == 0 and exposureIsZero(exposureRead(hash, levels[2])) then
    rcall("SADD", idleKey, symbol)
  else
    rcall("SREM", idleKey, symbol)
  end
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

-- Releases what a journal entry (hash key) still holds and zeroes its open quantity. Returns lots released.
local function journalReleaseOpen(journalKey, exposureKey, idleKey)
  local e = rcall("HMGET", journalKey, "kind", "strategy", "symbol", "side", "price", "open_qty")
  local open = tonumber(e[6] or "0")
  if e[1] ~= "NEW" or open <= 0 then
    return 0
  end
  exposureApply(exposureKey, idleKey, e[2], e[3], exposureReleaseDeltas(e[4], open, tonumber(e[5])))
  rcall("HSET", journalKey, "open_qty", 0)
  return open
end

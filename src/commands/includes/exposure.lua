--[[
  Exposure hash helpers (gateway scripts). One hash per account; each level holds six integer metrics:
    q   filled net lots (signed: BUY +, SELL -)      fn  filled net notional (signed)
    rbq reserved BUY lots                            rb  reserved BUY notional
    rsq reserved SELL lots                           rs  reserved SELL notional
  Levels: "P|<strategy>|<symbol>" (the pair), "S|<symbol>", "T|<strategy>", "A" (the account).
  All values are scaled integers ≤ 2^53-1, exact in Lua doubles. A script reads the four levels of
  (strategy, symbol) with one HMGET (only those it has not read yet in this run) and writes every level
  it changed once, at the end of its run (exposureFlushAll).

  Worst-case exposure of a level: BUY side fn + rb, SELL side rs - fn. A new BUY of notional n is allowed
  when fn + rb + n ≤ limit (a SELL: rs - fn + n ≤ limit), so an intent that only reduces never trips a
  limit, and reserved intents count as if they will fill.

  A pair or strategy level whose metrics are all zero is deleted at once. A symbol level at zero stays
  tracked but joins the idle set once none of its pairs holds anything ("S|<symbol>|pn" = 0); when a new
  symbol meets the tracked-symbol bound, idle symbols are evicted first.
]]
local EXPOSURE_METRICS = {"q", "fn", "rbq", "rb", "rsq", "rs"}

-- Every flush writes this field, whose value is longer than hash-max-listpack-value (64): it pins the
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
-- counts, and the writes not yet made. A batch of intents (admitIntent-n, recordOutcome-n) mostly shares
-- its account and strategies: each level is read once per run, not once per intent, and written once, at
-- the end of the run (exposureFlushAll), with the final values: the hash ends exactly as one write per
-- intent would leave it. Valid because nothing but these helpers reads or writes the exposure hash while
-- a script runs; the symbol eviction (admitIntent-n) drops what it deletes (exposureForget). The flush
-- cannot fail: every hash it writes was read (so is a hash) earlier in the run. The idle-set updates are
-- not deferred: the eviction reads that set (SPOP), and its key is not type-checked before.
local exposureCaches = {}
local exposureFieldNames = {}

-- The six field names of level `name`, built once per script run.
local function exposureFields(name)
  local f = exposureFieldNames[name]
  if not f then
    local p = name .. "|"
    -- Table constructors size a table once; filling an empty one grows it step by step, and table
    -- growth was a visible share of these scripts' cost (callgrind over bench/gateway/script-cost.ts).
    f = {p .. "q", p .. "fn", p .. "rbq", p .. "rb", p .. "rsq", p .. "rs"}
    exposureFieldNames[name] = f
  end
  return f
end

local function exposureCache(hash)
  local c = exposureCaches[hash]
  if not c then
    -- dirty: level name -> {name, del = its fields were deleted this run, [metric] = true: to write,
    -- symbol = set on a symbol level, whose pair count is written with it}; order: those records in
    -- first-write order.
    c = {levels = {}, pn = {}, dirty = {}, order = {}}
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
  local cached = c.levels
  local levels = {cached[names[1]], cached[names[2]], cached[names[3]], cached[names[4]]}
  -- Sized for all 25 fields at once (see exposureFields).
  local want = {nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
    nil, nil, nil, nil, nil, nil}
  local nw = 0
  for li = 1, 4 do
    if not levels[li] then
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
  local n = pn == nil and nw + 1 or nw
  if n > 0 then
    local raw = rcall("HMGET", hash, unpack(want, 1, n))
    local i = 0
    for li = 1, 4 do
      if not levels[li] then
        levels[li] = {
          q = tonumber(raw[i + 1] or 0),
          fn = tonumber(raw[i + 2] or 0),
          rbq = tonumber(raw[i + 3] or 0),
          rb = tonumber(raw[i + 4] or 0),
          rsq = tonumber(raw[i + 5] or 0),
          rs = tonumber(raw[i + 6] or 0),
        }
        i = i + 6
        cached[names[li]] = levels[li]
      end
    end
    if pn == nil then
      pn = tonumber(raw[i + 1] or 0)
    end
  end
  return {names = names, levels = levels, pn = pn, symbol = symbol, cache = c}
end

-- Makes the run's pending writes of every hash, then forgets them (the cache stays valid: it holds what
-- the hash now holds). Every script that commits calls it before it returns.
local function exposureFlushAll()
  for hash, c in pairs(exposureCaches) do
    local set = {}
    local ns = 0
    local del = {}
    local nd = 0
    for _, w in ipairs(c.order) do
      if not w.dropped then
        local v = c.levels[w.name]
        local f = exposureFields(w.name)
        for mi = 1, 6 do
          local m = EXPOSURE_METRICS[mi]
          if w[m] then
            set[ns + 1] = f[mi]
            set[ns + 2] = string.format("%d", v[m])
            ns = ns + 2
          elseif w.del then
            nd = nd + 1
            del[nd] = f[mi]
          end
        end
        if w.symbol then
          set[ns + 1] = w.name .. "|pn"
          set[ns + 2] = c.pn[w.symbol]
          ns = ns + 2
        end
      end
    end
    if ns > 0 then
      set[ns + 1] = EXPOSURE_ENCODING_FIELD
      set[ns + 2] = EXPOSURE_ENCODING_PIN
      rcall("HSET", hash, unpack(set))
    end
    if nd > 0 then
      rcall("HDEL", hash, unpack(del))
    end
    c.dirty, c.order = {}, {}
  end
end

-- After an error raised mid-intent: makes what earlier intents wrote, then forgets everything read (the
-- failed intent may have changed level tables it never got to write), so the next intent reads again.
local function exposureCacheReset()
  exposureFlushAll()
  exposureCaches = {}
end

-- Drops a symbol level deleted outside exposureCommit (eviction) from the run's cache and pending writes.
local function exposureForget(hash, symbol)
  local c = exposureCache(hash)
  local name = "S|" .. symbol
  c.levels[name] = nil
  local w = c.dirty[name]
  if w then
    w.dropped = true
    c.dirty[name] = nil
  end
  c.pn[symbol] = nil
end

-- Applies `deltas` (metric -> signed integer) to every loaded level and records the writes (made by
-- exposureFlushAll), then keeps the zero-balance bookkeeping: empty pair/strategy levels are deleted;
-- "S|<symbol>|pn" counts the symbol's non-empty pairs, and the symbol is idle (evictable) only when its
-- level and all its pairs are empty — two strategies netting to zero do not make a symbol idle. Values are
-- written as "%d" of doubles: exact, since every level stays within its limit ≤ 2^53-1. What is written is
-- what one HSET/HDEL per commit would leave: the symbol level's six metrics, the other levels' metrics
-- that changed since their fields were last deleted, and the deletion of an emptied pair/strategy level.
local function exposureCommit(hash, idleKey, symbol, state, deltas)
  local c = state.cache
  local pairWasZero = exposureIsZero(state.levels[1])
  for li = 1, 4 do
    local v = state.levels[li]
    for m, d in pairs(deltas) do
      v[m] = v[m] + d
    end
    local name = state.names[li]
    local w = c.dirty[name]
    if not w then
      w = {
        name = name, del = false, q = false, fn = false, rbq = false, rb = false, rsq = false, rs = false,
        symbol = li == 2 and symbol or false,
      }
      c.dirty[name] = w
      c.order[#c.order + 1] = w
    end
    if (li == 1 or li == 3) and exposureIsZero(v) then
      w.del = true
      w.q, w.fn, w.rbq, w.rb, w.rsq, w.rs = false, false, false, false, false, false
    elseif li == 2 then
      for mi = 1, 6 do
        w[EXPOSURE_METRICS[mi]] = true
      end
    else
      for m, d in pairs(deltas) do
        if d ~= 0 then
          w[m] = true
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
  c.pn[symbol] = state.pn
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

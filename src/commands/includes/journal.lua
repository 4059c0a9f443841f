--[[
  Dispatch journal entry helpers (gateway scripts). An entry (hash keys.journal(coid)) keeps the values
  written once at ADMITTED and never changed packed in ONE field, "i": a JSON array the gateway builds
  (src/journal/journal-entry.ts, packJournalImmutable) in the order of JOURNAL_IMMUTABLE below. The values
  that change keep a field each: state, open_qty, filled_qty, attempt, attempt_ms, attempt_epoch,
  venue_state, closed. The admit script then writes 7 fields, not 27 (docs/gateway.md, Where the time
  goes). Entries written before this layout (one field per value) are persisted state a gateway meets in
  the dedup window after an upgrade: every reader goes through these helpers, which read both.
]]
local JOURNAL_IMMUTABLE = {
  kind = 1, key = 2, coid = 3, account = 4, strategy = 5, symbol = 6, side = 7, qty = 8, price = 9,
  tif = 10, notional = 11, epoch = 12, admitted_ms = 13, deadline_ms = 14, trace_id = 15, intent_id = 16,
  source_ts_ns = 17, target = 18,
}

-- The immutable values `names` of entry `key`, given its "i" field as read (`packed`; false or nil for an
-- entry of the old layout, which is then read field by field). Returns name -> value; a number may come
-- as a number or a string, so callers use tonumber.
local function journalImmutable(key, packed, names)
  local out = {}
  if packed then
    local a = cjson.decode(packed)
    for _, n in ipairs(names) do
      out[n] = a[JOURNAL_IMMUTABLE[n]]
    end
  else
    local raw = rcall("HMGET", key, unpack(names))
    for i, n in ipairs(names) do
      out[n] = raw[i]
    end
  end
  return out
end

-- The kind (NEW | CANCEL) of entry `key` given its "i" field as read. The packed array opens with the
-- kind, so the outcome script's hot path reads it without decoding the JSON (≈ 2 µs here).
local function journalKind(key, packed)
  if packed then
    return string.match(packed, '^%["(%u+)"')
  end
  return rcall("HGET", key, "kind")
end

-- Releases what a journal entry still holds and zeroes its open quantity. Returns lots released.
local function journalReleaseOpen(journalKey, exposureKey, idleKey)
  local e = rcall("HMGET", journalKey, "i", "open_qty")
  local open = tonumber(e[2] or "0")
  if open <= 0 then
    return 0
  end
  local f = journalImmutable(journalKey, e[1], {"kind", "strategy", "symbol", "side", "price"})
  if f.kind ~= "NEW" then
    return 0
  end
  exposureApply(exposureKey, idleKey, f.strategy, f.symbol, exposureReleaseDeltas(f.side, open, tonumber(f.price)))
  rcall("HSET", journalKey, "open_qty", 0)
  return open
end

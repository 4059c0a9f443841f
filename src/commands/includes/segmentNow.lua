-- Redis server time in ms: the one clock every loader's lease is measured against, so clock skew between
-- loader hosts cannot make a live claim look expired.
local function segmentNowMs()
  local t = rcall("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

--[[
  Fencing check shared by every gateway state-mutating script (ARCHITECTURE.md, safety protocol 1).
  checkEpoch(epochKey, callerEpoch) returns nil when the caller holds the current epoch, otherwise the
  current epoch (0 when none was ever taken), which the script returns with its FENCED code.
]]
local function checkEpoch(epochKey, callerEpoch)
  local current = tonumber(rcall("GET", epochKey) or "0")
  if current ~= tonumber(callerEpoch) then
    return current
  end
  return nil
end

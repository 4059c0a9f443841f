--[[
  Breaks the leader lease on one lease node when its holder is dead (ha/, dead-holder detection): deletes
  the key only if it still holds the value the standby inspected AND it has not been extended for at
  least the quiet period (its remaining time is at most ttl - quiet). The second condition is what makes
  the break race-free: a holder that is alive and renewing keeps its remaining time above that bound, and
  a renewal landing between the standby's inspection and this script makes it refuse.

  Input:
    KEYS[1] lease key
    ARGV[1] value the standby saw (the holder's token)
    ARGV[2] greatest remaining time (ms) at which the key counts as quiet: ttl - quiet period

  Output:
    1 when the key was deleted, 0 when it holds another value, is gone, or was renewed recently
]]
local rcall = redis.call

if rcall("GET", KEYS[1]) ~= ARGV[1] then
  return 0
end
local remaining = rcall("PTTL", KEYS[1])
if remaining < 0 or remaining > tonumber(ARGV[2]) then
  return 0
end
return rcall("DEL", KEYS[1])

--[[
  The layout guard of the state Redis (src/redis/layout.ts): which layout each persistent structure is
  written in, so a release that cannot read what a newer one wrote refuses to run instead of misreading it
  (runbooks/upgrade.md).

  Input:
    KEYS[1] layout hash: component -> layout version
    ARGV[1] component (e.g. "journal")
    ARGV[2] the newest layout this release reads, which is also the one it writes
    ARGV[3] "1" to record ARGV[2] as the component's layout (a writer about to write), "0" to only check

  Output:
    the version stored before this call (0 when none). When it exceeds ARGV[2] nothing is changed: the
    caller must refuse.
]]
local rcall = redis.call

local stored = tonumber(rcall("HGET", KEYS[1], ARGV[1]) or "0")
local mine = tonumber(ARGV[2])
if stored < mine and ARGV[3] == "1" then
  rcall("HSET", KEYS[1], ARGV[1], ARGV[2])
end
return stored

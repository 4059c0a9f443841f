--[[
  Claims entries left pending by dead or failing consumers, and moves entries delivered too often to the
  dead-letter stream with the reason.

  Input:
    KEYS[1] intent stream
    KEYS[2] dead-letter stream
    KEYS[3] delivery-errors hash (entry id -> last handler error)

    ARGV[1] consumer group
    ARGV[2] claiming consumer name
    ARGV[3] min idle ms before an entry may be claimed
    ARGV[4] most entries to claim in this call
    ARGV[5] max deliveries: an entry claimed with more deliveries than this is dead-lettered
    ARGV[6] dead-letter stream cap: when full, poisoned entries stay pending (counted), never dropped
    ARGV[7] dead-letter ts (ns, decimal string)

  Output:
    {claimed, deadLettered, dlqFull}
      claimed      = flat list {id1, fields1, id2, fields2, ...} now owned by the claiming consumer
      deadLettered = flat list {id, idempotency key, reply stream, reason, ...} moved to the DLQ
      dlqFull      = number of poisoned entries left pending because the DLQ is at its cap
]]
local rcall = redis.call

local res = rcall("XAUTOCLAIM", KEYS[1], ARGV[1], ARGV[2], ARGV[3], "0-0", "COUNT", ARGV[4])
local entries = res[2]
local maxDeliveries = tonumber(ARGV[5])
local dlqCap = tonumber(ARGV[6])
local claimed, dead = {}, {}
local dlqFull = 0

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return ""
end

for _, entry in ipairs(entries) do
  local id, fields = entry[1], entry[2]
  local info = rcall("XPENDING", KEYS[1], ARGV[1], id, id, 1)[1]
  local deliveries = info and info[4] or 0
  if deliveries > maxDeliveries then
    if rcall("XLEN", KEYS[2]) >= dlqCap then
      dlqFull = dlqFull + 1
    else
      local reason = rcall("HGET", KEYS[3], id) or "no handler error recorded (consumer died while processing)"
      local dlqFields = {"source_id", id, "deliveries", tostring(deliveries), "reason", reason, "dead_ts_ns", ARGV[7]}
      for i = 1, #fields do dlqFields[#dlqFields + 1] = fields[i] end
      rcall("XADD", KEYS[2], "*", unpack(dlqFields))
      rcall("XACK", KEYS[1], ARGV[1], id)
      rcall("XDEL", KEYS[1], id)
      rcall("HDEL", KEYS[3], id)
      dead[#dead + 1] = id
      dead[#dead + 1] = field(fields, "k")
      dead[#dead + 1] = field(fields, "r")
      dead[#dead + 1] = reason
    end
  else
    claimed[#claimed + 1] = id
    claimed[#claimed + 1] = fields
  end
end
return {claimed, dead, dlqFull}

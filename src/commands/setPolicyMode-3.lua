--[[
  Moves the cluster-wide fail-safe policy (NORMAL < DEGRADED < HALT) and appends the transition to the
  policy history stream. The rules, enforced here so that no caller can bypass them:

    - an automatic actor (any actor not "operator:<name>") may only raise severity: NORMAL → DEGRADED →
      HALT, or NORMAL → HALT. A trip to the current or a lower mode is refused (NOT_ESCALATION);
    - only an operator ("operator:<name>") may lower severity, and so only an operator leaves HALT;
    - an automatic trip carries the caller's fencing epoch: a zombie gateway (stale epoch) must not be able
      to degrade or halt the cluster because of what it alone observes. Operator calls are not fenced.

  Input:
    KEYS[1] policy hash: mode, reason, actor, changed_ts_ns (missing hash = NORMAL)
    KEYS[2] fencing epoch key
    KEYS[3] policy history stream (capped)

    ARGV[1] target mode: NORMAL | DEGRADED | HALT
    ARGV[2] reason (free text for operators and the runbook)
    ARGV[3] actor: "operator:<name>" or an automatic actor such as "storm-guard:<process id>"
    ARGV[4] changed_ts_ns (wall-clock ns, decimal string)
    ARGV[5] caller's fencing epoch; "" for operator calls
    ARGV[6] history stream cap (MAXLEN ~)

  Output:
    {1, previous mode}   changed
    {0, previous mode}   already in the target mode: nothing written
    {-1, current mode}   NOT_ESCALATION: an automatic actor tried to keep or lower severity
    {-2, current mode}   FENCED: the automatic caller's epoch is not the current one
    {-3, current mode}   BAD_MODE: target is not a mode
    {-4, current mode}   BAD_ACTOR: actor empty, or "operator:" without a valid name
]]
local rcall = redis.call

local severity = {NORMAL = 0, DEGRADED = 1, HALT = 2}
local target = ARGV[1]
local actor = ARGV[3]

local current = rcall("HGET", KEYS[1], "mode")
if not current or not severity[current] then
  current = "NORMAL"
end

if not severity[target] then
  return {-3, current}
end

local isOperator = string.sub(actor, 1, 9) == "operator:"
if isOperator then
  if not string.match(actor, "^operator:[%w_%.%-]+$") then
    return {-4, current}
  end
else
  if actor == "" then
    return {-4, current}
  end
  if ARGV[5] ~= "" then
    local epoch = tonumber(rcall("GET", KEYS[2]) or "0")
    if tonumber(ARGV[5]) ~= epoch then
      return {-2, current}
    end
  end
  if severity[target] <= severity[current] then
    return {-1, current}
  end
end

if target == current then
  return {0, current}
end

rcall("HSET", KEYS[1], "mode", target, "reason", ARGV[2], "actor", actor, "changed_ts_ns", ARGV[4])
rcall("XADD", KEYS[3], "MAXLEN", "~", ARGV[6], "*",
  "from", current, "to", target, "reason", ARGV[2], "actor", actor, "changed_ts_ns", ARGV[4])
return {1, current}

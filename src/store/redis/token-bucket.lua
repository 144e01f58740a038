--[[
Floodgate token buckets: one all-or-nothing request, atomically (README, "Token bucket semantics").

Mirrors src/domain/token-bucket.ts step for step, with the same floating-point operations in
the same order (multiply before divide), so both give bit-identical doubles. Change both or
neither; test/contract/lua-vectors.test.ts runs one vector table against both.

KEYS[i]  bucket key of check i (i = 1..n). On Redis Cluster all keys of one call must hash to
         one slot (one {hash tag}), else CROSSSLOT. The same key may appear more than once.
ARGV     5 values per check, check i at ARGV[5*(i-1)+1 .. 5*(i-1)+5]:
           capacity        C, tokens (integer >= 1)
           refillTokens    tokens added per period (>= 1)
           refillPeriodUs  the period in microseconds
           cost            tokens to take; 0 = check without consuming (needs 1, takes 0)
           shadow          "1" = shadow (never denies), "0" = enforced
         Arguments after the last check are ignored by the body (the test build of this
         script passes its injected clock there; production never does).
Returns  a flat array of integers, 1 + 4n long:
           [1] allowed (1/0), then per check i at [2+4*(i-1) ..]:
           sufficient (1/0), remaining = floor(tokens after the decision),
           resetMs = ms until full after the decision (rounded up; 0 when full),
           retryMs = 0 when sufficient, else ms until the needed tokens are there
                     (rounded up), or -1 (NEVER) when the need exceeds C.
         Waits are capped at 2^53 - 1 ms so that they stay exact integers.
State    each key is a hash: t = tokens ("%.17g", so it round-trips exactly), u = updated-at
         in microseconds of Redis time. Absent = full. PEXPIRE = ms until full + a margin, so
         idle buckets vanish (a full bucket is equivalent to an absent one).
Clock    the production entry (end of this file) reads Redis TIME; no client clock is used.
         Needs Redis >= 5 (effects replication, so TIME may precede writes).

Semantics: checks are walked in order against a running state per key. The first check of a
key refills the stored state to `now` (elapsed = 0 if the clock moved backwards, and `u` never
moves backwards). A later check of the same key sees the tokens the earlier checks would take,
clamped to its own capacity. A check is sufficient iff running tokens >= need (need = cost, or
1 for cost 0); a sufficient check takes its cost from the running state, an insufficient shadow
check takes nothing. The request is allowed iff every non-shadow check is sufficient. Only an
allowed request writes: the running states. A denied request writes nothing (its refilled
state is equivalent to the stored one) and takes nothing from any bucket.
]]

local NEVER = -1
local MAX_WAIT_MS = 9007199254740991
local TTL_MARGIN_MS = 1000

local function ms_to_refill(tokens, rt, rp)
  return math.min(MAX_WAIT_MS, math.ceil(tokens * rp / rt / 1000))
end

local function open_slot(key, cap, rt, rp, now)
  local h = redis.call('HMGET', key, 't', 'u')
  local stored, u = tonumber(h[1]), tonumber(h[2])
  if stored == nil or u == nil then
    return { base = cap, run = cap, u = now, ttl = 0 }
  end
  local elapsed = 0
  if now > u then elapsed = now - u end
  local tokens = math.min(cap, stored + elapsed * rt / rp)
  if u < now then u = now end
  return { base = tokens, run = tokens, u = u, ttl = 0 }
end

-- Pass 1: walk the checks against the running state of each key.
local function walk(now)
  local by_key, checks = {}, {}
  local allowed = true
  for i = 1, #KEYS do
    local a = 5 * (i - 1)
    local c = {
      cap = tonumber(ARGV[a + 1]), rt = tonumber(ARGV[a + 2]), rp = tonumber(ARGV[a + 3]),
      cost = tonumber(ARGV[a + 4]), shadow = ARGV[a + 5] == '1',
    }
    local slot = by_key[KEYS[i]]
    if slot == nil then
      slot = open_slot(KEYS[i], c.cap, c.rt, c.rp, now)
      by_key[KEYS[i]] = slot
    else
      slot.base = math.min(c.cap, slot.base)
      slot.run = math.min(c.cap, slot.run)
    end
    c.need = c.cost
    if c.cost == 0 then c.need = 1 end
    c.slot, c.seen, c.ok = slot, slot.run, slot.run >= c.need
    if c.ok then
      slot.run = slot.run - c.cost
    elseif not c.shadow then
      allowed = false
    end
    checks[i] = c
  end
  return by_key, checks, allowed
end

-- Pass 2: outcomes, from each bucket's state after the decision.
local function outcomes(checks, allowed)
  local out = { allowed and 1 or 0 }
  for i, c in ipairs(checks) do
    local tokens = c.slot.base
    if allowed then tokens = c.slot.run end
    local reset = ms_to_refill(c.cap - tokens, c.rt, c.rp)
    local retry = 0
    if not c.ok then
      if c.need > c.cap then retry = NEVER else retry = ms_to_refill(c.need - c.seen, c.rt, c.rp) end
    end
    if reset > c.slot.ttl then c.slot.ttl = reset end
    local o = 4 * (i - 1) + 1
    out[o + 1], out[o + 2], out[o + 3], out[o + 4] = c.ok and 1 or 0, math.floor(tokens), reset, retry
  end
  return out
end

local function evaluate(now)
  local by_key, checks, allowed = walk(now)
  local out = outcomes(checks, allowed)
  if allowed then
    for key, slot in pairs(by_key) do
      redis.call('HSET', key, 't', string.format('%.17g', slot.run), 'u', string.format('%.17g', slot.u))
      redis.call('PEXPIRE', key, string.format('%.0f', math.min(MAX_WAIT_MS, slot.ttl + TTL_MARGIN_MS)))
    end
  end
  return out
end

-- @entry: everything above is the body; the test build replaces what follows.
local time = redis.call('TIME')
return evaluate(tonumber(time[1]) * 1000000 + tonumber(time[2]))

--[[
Floodgate refund: gives back tokens that token-bucket.lua took for a request that was then denied
elsewhere. Only Redis Cluster needs it: the buckets of one request may live in several slots, each
slot is charged by its own token-bucket.lua call, and when any slot denies, the slots that were
charged are refunded with this script (see redis-store.ts and docs/redis-topologies.md).

KEYS[i]  bucket key i (i = 1..n), all in one slot (one {hash tag}), each key at most once.
ARGV     4 values per key, key i at ARGV[4*(i-1)+1 .. 4*(i-1)+4]:
           capacity        C, tokens (integer >= 1)
           refillTokens    tokens added per period (>= 1)
           refillPeriodUs  the period in microseconds
           amount          tokens to give back (> 0): the sum of what the charge took from the key
Returns  a flat array of integers, 2n long; key i at [2*(i-1)+1 ..]:
           remaining = floor(tokens after the refund),
           resetMs   = ms until full after the refund (rounded up; 0 when full).
State    the hash of token-bucket.lua (t = tokens "%.17g", u = updated-at µs of Redis time).
Clock    Redis TIME, as in token-bucket.lua.

Semantics: the stored state is first refilled to now, exactly as token-bucket.lua refills it (same
operations in the same order), then `amount` is added and the sum clamped to C. Since the charge
took `amount` from a state refilled the same way, the result equals the bucket as if the charge
had never happened (unless the bucket was already full, where the clamp makes them equal too).
A missing key is never created: it expired or was reset since the charge, and absent already
means full. A bucket that the refund makes full is deleted for the same reason (absent = full),
so a denied request that first created a bucket in another slot leaves no trace. Otherwise the
expiry is shortened to the new time until full, plus the margin token-bucket.lua uses.
]]

local MAX_WAIT_MS = 9007199254740991
local TTL_MARGIN_MS = 1000

local function ms_to_refill(tokens, rt, rp)
  return math.min(MAX_WAIT_MS, math.ceil(tokens * rp / rt / 1000))
end

local function refund(key, a, now)
  local cap, rt, rp = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local amount = tonumber(ARGV[a + 4])
  local h = redis.call('HMGET', key, 't', 'u')
  local stored, u = tonumber(h[1]), tonumber(h[2])
  if stored == nil or u == nil then return cap, 0 end
  local elapsed = 0
  if now > u then elapsed = now - u end
  local tokens = math.min(cap, stored + elapsed * rt / rp)
  tokens = math.min(cap, tokens + amount)
  if u < now then u = now end
  if tokens >= cap then
    redis.call('DEL', key)
    return cap, 0
  end
  local reset = ms_to_refill(cap - tokens, rt, rp)
  redis.call('HSET', key, 't', string.format('%.17g', tokens), 'u', string.format('%.17g', u))
  redis.call('PEXPIRE', key, string.format('%.0f', math.min(MAX_WAIT_MS, reset + TTL_MARGIN_MS)))
  return tokens, reset
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local out = {}
for i = 1, #KEYS do
  local tokens, reset = refund(KEYS[i], 4 * (i - 1), now)
  out[2 * i - 1] = math.floor(tokens)
  out[2 * i] = reset
end
return out

/**
 * The fleet's Lua scripts: each runs atomically in Redis, so hosts never
 * race on a count. Times come from the store's clock (TIME), never from a
 * host's, where an interval is the store's business (epochs, rates). Every
 * stored number is checked: a store another client can write must not turn
 * a cap into no cap, so a value that is not a sane number refuses grants.
 */

/** Reads a hash whole when it is small enough, values longer than ARGV[2] left out: {fields...} or {"!", HLEN}. */
export const READ_HASH = `
local n = redis.call('HLEN', KEYS[1])
if n > tonumber(ARGV[1]) then return {'!', n} end
local all = redis.call('HGETALL', KEYS[1])
local out = {}
local limit = tonumber(ARGV[2])
for i = 1, #all, 2 do
  if #all[i] <= 200 and #all[i + 1] <= limit then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out`;

/** The store's epoch ("ID|startMs"), made now when missing (a new or emptied store). */
export const EPOCH = `
local e = redis.call('GET', KEYS[1])
if e then return e end
local t = redis.call('TIME')
e = ARGV[1] .. '|' .. (t[1] * 1000 + math.floor(t[2] / 1000))
redis.call('SET', KEYS[1], e)
return e`;

/** Grants wait this long after a new epoch, so every host republishes what it holds first. */
export const SETTLE_MS = 2000;

const NOW_AND_SETTLED = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local e = redis.call('GET', KEYS[2])
local started = e and tonumber(string.match(e, '|(%d+)$'))
local settled = started ~= nil and now >= started + ${SETTLE_MS}
local function int(v, max)
  local x = tonumber(v or '0')
  if x == nil or x ~= x or x < 0 or x > max or x ~= math.floor(x) then return nil end
  return x
end`;

/**
 * A warm-up count of the fleet (KEYS[1], a hash: day, stage, count,
 * reserved). ARGV: today, hour, usedDay, used, want, returned, republish
 * (1: add held/heldCount, this host's lease and count of today, after a new
 * epoch), held, heldCount, hostStage, pacing parts, advance share, setStage
 * (-1, or the stage an administrator set on this host: postbal warmup-stage),
 * then the schedule's caps. Grants come from what pacing allows now less what is
 * reserved. @returns {stage, grant (-1: warmed, no cap), count, reserved, day, ok}
 */
export const WARM_LEASE = `${NOW_AND_SETTLED}
local k = KEYS[1]
local today, hour, usedDay, used = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local want, returned, republish = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local held, heldCount, hostStage = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local parts, share = tonumber(ARGV[11]), tonumber(ARGV[12])
local f = redis.call('HMGET', k, 'day', 'stage', 'count', 'reserved')
local day, stage, count, reserved = int(f[1], 1e7), int(f[2], 1e4), int(f[3], 1e12), int(f[4], 1e12)
if day == nil or stage == nil or count == nil or reserved == nil then return {0, 0, 0, 0, 0, 0} end
if day == 0 then day = today end
if today > day then
  local cap = tonumber(ARGV[14 + stage])
  if cap and count >= math.ceil(cap * share) then stage = stage + 1 end
  day, count, reserved = today, 0, 0
end
local setStage = tonumber(ARGV[13])
if setStage >= 0 then stage = setStage end
if republish then
  if hostStage > stage then stage = hostStage end
  if usedDay == day then
    count = count + heldCount
    reserved = reserved + held
  end
end
if usedDay == day then
  count = count + used
  reserved = reserved - returned
  if reserved < count then reserved = count end
end
local grant = 0
local cap = tonumber(ARGV[14 + stage])
if cap == nil then
  grant = -1
elseif today == day and settled then
  local paced = math.floor(cap * math.min(parts, hour + 1) / parts)
  grant = math.max(0, math.min(want, paced - reserved))
  reserved = reserved + grant
end
redis.call('HSET', k, 'day', day, 'stage', stage, 'count', count, 'reserved', reserved)
redis.call('PEXPIRE', k, 259200000)
return {stage, grant, count, reserved, day, 1}`;

/**
 * A fleet-wide rate by GCRA (KEYS[1]: the TAT in ms). ARGV: count, periodMs,
 * want, returned, held (after a new epoch: this host's unused lease, taken
 * as used). @returns {grant, ok}
 */
export const RATE_LEASE = `${NOW_AND_SETTLED}
local count, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local want, returned, held = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local T = period / count
local stored = redis.call('GET', KEYS[1])
local tat = tonumber(stored or '0')
if tat == nil or tat ~= tat or tat > now + 2 * period then tat = now + period end
if tat < now then tat = now end
tat = tat + held * T
if returned > 0 then tat = math.max(now, tat - returned * T) end
local grant = 0
if settled then
  local avail = math.floor((now + period - tat) / T + 1e-6)
  grant = math.max(0, math.min(want, avail))
  tat = tat + grant * T
end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.max(1000, math.floor(2 * period)))
return {grant, 1}`;

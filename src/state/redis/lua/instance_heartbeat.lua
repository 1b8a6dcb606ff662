-- Writes an instance's heartbeat unless another instance is recovering it.
-- KEYS: the instance's heartbeat key, its recovery claim key (same slot).
-- ARGV: now (ms).
-- Reply: -1 being recovered (nothing written), 1 the instance was known,
-- 0 it was not (its first heartbeat, or Redis forgot it).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local known = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return known

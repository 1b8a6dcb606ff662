-- Claims the recovery of an instance whose heartbeat is stale.
-- KEYS: the instance's heartbeat key, its recovery claim key (same slot).
-- ARGV: stale_before (ms), token, ttl (ms).
-- Reply: 1 claimed, 0 not (heartbeat fresh or gone, or claimed by another).
local beat = tonumber(redis.call('GET', KEYS[1]))
if beat == nil or beat >= tonumber(ARGV[1]) then
  return 0
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return 1
end
return 0

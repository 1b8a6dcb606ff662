-- add_user. ARGV: [1], whitelist_only, n, whitelist..., n, blacklist...
if user_exists() then
  return {'userExists'}
end
redis.call('DEL', WHITE, BLACK, SOCKETS)
redis.call('HSET', INFO, 'whitelistOnly', ARGV[2])
local pos = 3
for _, key in ipairs({WHITE, BLACK}) do
  local n = tonumber(ARGV[pos])
  for i = pos + 1, pos + n do
    redis.call('SADD', key, ARGV[i])
  end
  pos = pos + n + 1
end
return {'ok'}

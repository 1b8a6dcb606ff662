-- add_user. ARGV: [1], whitelist_only, n, whitelist..., n, blacklist...,
-- n, conversations...
if user_exists() then
  return {'userExists'}
end
redis.call('DEL', WHITE, BLACK, CONVERSATIONS, SOCKETS)
redis.call('HSET', INFO, 'whitelistOnly', ARGV[2])
add_counted(3, {WHITE, BLACK, CONVERSATIONS})
return {'ok'}

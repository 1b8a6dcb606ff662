-- add_user. ARGV: [1], whitelist_only, n, whitelist..., n, blacklist...
if user_exists() then
  return {'userExists'}
end
redis.call('DEL', WHITE, BLACK, SOCKETS)
redis.call('HSET', INFO, 'whitelistOnly', ARGV[2])
add_counted(3, {WHITE, BLACK})
return {'ok'}

-- direct_set_whitelist_only. ARGV: [1], mode ('1' or '0').
if not user_exists() then
  return {'noUser'}
end
redis.call('HSET', INFO, 'whitelistOnly', ARGV[2])
return {'ok'}

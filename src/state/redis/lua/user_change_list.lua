-- direct_change_list. ARGV: [1], list, op ('add' or 'remove'), limit,
-- names...
if not user_exists() then
  return {'noUser'}
end
local key = list_key(ARGV[2])
if not key then
  return {'noList'}
end
if ARGV[3] == 'add' then
  if redis.call('SCARD', key) + (#ARGV - 4) > tonumber(ARGV[4]) then
    return {'listLimitExceeded'}
  end
  for i = 5, #ARGV do
    redis.call('SADD', key, ARGV[i])
  end
else
  for i = 5, #ARGV do
    redis.call('SREM', key, ARGV[i])
  end
end
return {'ok'}

-- room_set_whitelist_only (protocol.md 4.4, 4.5). ARGV: bypass, has_actor,
-- actor, mode ('1' or '0'). Reply: 'ok', access_lists_updates, users to
-- remove...
if not room_exists() then
  return {'noRoom'}
end
if ARGV[1] ~= '1' and not (ARGV[2] == '1' and is_admin(ARGV[3])) then
  return {'notAllowed'}
end
redis.call('HSET', INFO, 'whitelistOnly', ARGV[4])
local out = {'ok', flag('accessListsUpdates')}
if ARGV[4] == '1' then
  -- The owner is not exempt unless listed (4.5).
  for _, user in ipairs(redis.call('HKEYS', USERS)) do
    if redis.call('SISMEMBER', WHITE, user) == 0 and redis.call('SISMEMBER', ADMIN, user) == 0 then
      out[#out + 1] = user
    end
  end
end
return out

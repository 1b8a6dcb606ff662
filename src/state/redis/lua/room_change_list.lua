-- room_change_list (protocol.md 4.4, 4.5). ARGV: bypass, has_actor, actor,
-- list, op ('add' or 'remove'), limit, names...
-- Reply: 'ok', access_lists_updates, users to remove...
if not room_exists() then
  return {'noRoom'}
end
local bypass, has_actor, actor = ARGV[1] == '1', ARGV[2] == '1', ARGV[3]
local list, op, limit = ARGV[4], ARGV[5], tonumber(ARGV[6])
local names = {}
for i = 7, #ARGV do
  names[#names + 1] = ARGV[i]
end

if list == 'userlist' then
  return {'notAllowed'}
end
if not bypass then
  if not has_actor then
    return {'notAllowed'}
  end
  local o = owner()
  if not (o and o == actor) then
    if list == 'adminlist' or redis.call('SISMEMBER', ADMIN, actor) == 0 then
      return {'notAllowed'}
    end
    if o then
      for _, name in ipairs(names) do
        if name == o then
          return {'notAllowed'}
        end
      end
    end
  end
end
local key = list_key(list)
if not key then
  return {'noList'}
end
if op == 'add' then
  if redis.call('SCARD', key) + #names > limit then
    return {'listLimitExceeded'}
  end
  for _, name in ipairs(names) do
    redis.call('SADD', key, name)
  end
else
  for _, name in ipairs(names) do
    redis.call('SREM', key, name)
  end
end

local out = {'ok', flag('accessListsUpdates')}
local losing = (list == 'blacklist' and op == 'add')
  or (list == 'whitelist' and op == 'remove' and redis.call('HGET', INFO, 'whitelistOnly') == '1')
if losing then
  local listed = {}
  for _, name in ipairs(names) do
    if not listed[name] and present(name) and not is_admin(name) then
      listed[name] = true
      out[#out + 1] = name
    end
  end
end
return out

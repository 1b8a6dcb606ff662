-- delete_room, room side. ARGV: bypass, has_actor, actor.
-- Reply: 'ok', number of present users, then per user: name, number of
-- joined sockets, the sockets.
if not room_exists() then
  return {'noRoom'}
end
if ARGV[1] ~= '1' then
  local o = owner()
  if ARGV[2] ~= '1' or not o or o ~= ARGV[3] then
    return {'notAllowed'}
  end
end
local users = redis.call('HKEYS', USERS)
local sockets = redis.call('HGETALL', SOCKETS)
local by_user = {}
for i = 1, #sockets, 2 do
  local user = sockets[i + 1]
  by_user[user] = by_user[user] or {}
  table.insert(by_user[user], sockets[i])
end
local out = {'ok', #users}
for _, user in ipairs(users) do
  local mine = by_user[user] or {}
  out[#out + 1] = user
  out[#out + 1] = #mine
  append(out, mine)
end
redis.call('DEL', INFO, ADMIN, WHITE, BLACK, USERS, SOCKETS, SEEN, HISTORY)
return out

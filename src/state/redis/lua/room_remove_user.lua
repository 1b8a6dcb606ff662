-- room_remove_user, room side. ARGV: user, now.
-- Reply: 'ok', userlist_updates, the user's sockets that were joined...
if not room_exists() then
  return {'noRoom'}
end
local user, now = ARGV[1], ARGV[2]
local out = {'ok', flag('userlistUpdates')}
local sockets = redis.call('HGETALL', SOCKETS)
for i = 1, #sockets, 2 do
  if sockets[i + 1] == user then
    redis.call('HDEL', SOCKETS, sockets[i])
    out[#out + 1] = sockets[i]
  end
end
leave_userlist(user, now)
return out

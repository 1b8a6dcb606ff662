-- remove_socket, user side (first step). ARGV: [1], socket.
-- Reply: 'none' if the socket is not registered; else 'ok', its instance,
-- the user's remaining socket count, number of rooms, then per room the
-- room and how many remaining sockets of the user still list it.
if not user_exists() then
  return {'noUser'}
end
local socket = ARGV[2]
local instance = redis.call('HGET', SOCKETS, socket)
if not instance then
  return {'none'}
end
local rooms = redis.call('SMEMBERS', rooms_key(socket))
redis.call('DEL', rooms_key(socket))
redis.call('HDEL', SOCKETS, socket)
local others = redis.call('HKEYS', SOCKETS)
local out = {'ok', instance, #others, #rooms}
for _, room in ipairs(rooms) do
  local n = 0
  for _, other in ipairs(others) do
    n = n + redis.call('SISMEMBER', rooms_key(other), room)
  end
  out[#out + 1] = room
  out[#out + 1] = n
end
return out

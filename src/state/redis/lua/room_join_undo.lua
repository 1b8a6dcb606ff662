-- Undoes `room_join` when the user side refused the socket.
-- ARGV: user, socket, entered, [previous seen time].
-- Reply: 1 if there was something to undo.
if redis.call('HGET', SOCKETS, ARGV[2]) ~= ARGV[1] then
  return 0
end
local user = ARGV[1]
redis.call('HDEL', SOCKETS, ARGV[2])
if redis.call('HINCRBY', USERS, user, -1) <= 0 then
  redis.call('HDEL', USERS, user)
  if ARGV[3] == '1' then
    if ARGV[4] then
      redis.call('HSET', SEEN, user, ARGV[4])
    else
      redis.call('HDEL', SEEN, user)
    end
  end
end
return 1

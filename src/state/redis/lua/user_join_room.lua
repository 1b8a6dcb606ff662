-- room_join, user side (second step). ARGV: [1], socket, room.
if not user_exists() then
  return {'noUser'}
end
if redis.call('HEXISTS', SOCKETS, ARGV[2]) == 0 then
  return {'invalidSocket'}
end
redis.call('SADD', rooms_key(ARGV[2]), ARGV[3])
return {'ok'}

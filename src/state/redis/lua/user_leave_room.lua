-- Takes a room off the user's sockets. ARGV: [1], room, then
--   'socket', socket: one socket (room_leave);
--   'all': every socket (room_remove_user);
--   'all-unlocked', lock key: every socket, unless the user's lock for
--     the room is held (delete_room: a join in progress between its room
--     and user steps would otherwise add the room back after this).
-- Reply: 'ok', the sockets that listed the room...; or 'busy'.
if not user_exists() then
  return {'noUser'}
end
local room, mode = ARGV[2], ARGV[3]
if mode == 'all-unlocked' and redis.call('EXISTS', ARGV[4]) == 1 then
  return {'busy'}
end
local sockets
if mode == 'socket' then
  sockets = {ARGV[4]}
else
  sockets = redis.call('HKEYS', SOCKETS)
end
local out = {'ok'}
for _, socket in ipairs(sockets) do
  if redis.call('SREM', rooms_key(socket), room) == 1 then
    out[#out + 1] = socket
  end
end
return out

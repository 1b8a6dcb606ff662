-- Takes a room off the user's sockets: one socket (room_leave) or all of
-- them (room_remove_user, delete_room). ARGV: [1], room, [socket].
-- Reply: 'ok', the sockets that listed the room...
if not user_exists() then
  return {'noUser'}
end
local room = ARGV[2]
local sockets
if ARGV[3] then
  sockets = {ARGV[3]}
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

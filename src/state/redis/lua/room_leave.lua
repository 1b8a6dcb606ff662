-- room_leave and remove_socket, room side. ARGV: user, socket, now.
-- Reply: 'ok', was_joined, njoined, userlist_updates.
if not room_exists() then
  return {'noRoom'}
end
local user, socket, now = ARGV[1], ARGV[2], ARGV[3]
local was = unjoin(socket, user, now)
local n = njoined(user)
if n == 0 then
  leave_userlist(user, now)
end
return {'ok', was, n, flag('userlistUpdates')}

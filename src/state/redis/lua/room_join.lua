-- room_join, room side (first step; mod.rs explains the order).
-- ARGV: user, socket, now.
-- Reply: 'ok', already, njoined, userlist_updates, entered (the user was
-- added to the userlist), then the previous seen time if there was one,
-- which `room_join_undo` restores.
if not room_exists() then
  return {'noRoom'}
end
local user, socket, now = ARGV[1], ARGV[2], ARGV[3]
if not has_access(user) then
  return {'notAllowed'}
end
local already, entered, seen_before = 1, 0, false
if redis.call('HGET', SOCKETS, socket) ~= user then
  already = 0
  redis.call('HSET', SOCKETS, socket, user)
  if redis.call('HINCRBY', USERS, user, 1) == 1 then
    entered = 1
    seen_before = redis.call('HGET', SEEN, user)
    redis.call('HSET', SEEN, user, now)
  end
end
local out = {'ok', already, njoined(user), flag('userlistUpdates'), entered}
if seen_before then
  out[#out + 1] = seen_before
end
return out

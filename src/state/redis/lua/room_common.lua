-- Prelude of every room script (scripts.rs puts it in front of each body).
-- KEYS[1] is the room's info key, `{P:room:R}:info` (keys.rs); its other
-- keys share that hash tag, so they are derived here rather than sent with
-- every call, and every script below touches a single slot.
local TAG = string.sub(KEYS[1], 1, -5)
local INFO, ADMIN, WHITE, BLACK, USERS, SOCKETS, SEEN, HISTORY =
  KEYS[1], TAG .. 'adminlist', TAG .. 'whitelist', TAG .. 'blacklist',
  TAG .. 'userlist', TAG .. 'sockets', TAG .. 'seen', TAG .. 'history'

local function room_exists()
  return redis.call('EXISTS', INFO) == 1
end

-- The owner's name, or false when the room has none.
local function owner()
  return redis.call('HGET', INFO, 'owner')
end

local function is_admin(user)
  local o = owner()
  if o and o == user then
    return true
  end
  return redis.call('SISMEMBER', ADMIN, user) == 1
end

-- protocol.md 4.2.
local function has_access(user)
  if is_admin(user) then
    return true
  end
  if redis.call('SISMEMBER', BLACK, user) == 1 then
    return false
  end
  if redis.call('HGET', INFO, 'whitelistOnly') == '1' then
    return redis.call('SISMEMBER', WHITE, user) == 1
  end
  return true
end

-- Booleans go back as 0/1: a Lua false would become nil and cut the reply.
local function flag(field)
  if redis.call('HGET', INFO, field) == '1' then
    return 1
  end
  return 0
end

local function present(user)
  return redis.call('HEXISTS', USERS, user) == 1
end

local function njoined(user)
  return tonumber(redis.call('HGET', USERS, user) or '0')
end

local function list_key(name)
  if name == 'adminlist' then
    return ADMIN
  elseif name == 'whitelist' then
    return WHITE
  elseif name == 'blacklist' then
    return BLACK
  elseif name == 'userlist' then
    return USERS
  end
  return nil
end

local function leave_userlist(user, now)
  if redis.call('HDEL', USERS, user) == 1 then
    redis.call('HSET', SEEN, user, now)
  end
end

-- Unjoins one socket of `user`; 1 if it was joined. The userlist keeps a
-- count per user, so it never disagrees with the joined sockets.
local function unjoin(socket, user, now)
  if redis.call('HGET', SOCKETS, socket) ~= user then
    return 0
  end
  redis.call('HDEL', SOCKETS, socket)
  if redis.call('HINCRBY', USERS, user, -1) <= 0 then
    leave_userlist(user, now)
  end
  return 1
end

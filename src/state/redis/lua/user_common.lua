-- Prelude of every user script (scripts.rs puts it in front of each body).
-- KEYS[1] is the user's info key, `{P:user:U}:info` (keys.rs); the other
-- keys share its hash tag and are derived here. ARGV[1] is the prefix of
-- the per-socket room sets, which carry the same hash tag.
local TAG = string.sub(KEYS[1], 1, -5)
local INFO, WHITE, BLACK, CONVERSATIONS, SOCKETS =
  KEYS[1], TAG .. 'whitelist', TAG .. 'blacklist', TAG .. 'conversations', TAG .. 'sockets'
local SOCKET_ROOMS = ARGV[1]

local function user_exists()
  return redis.call('EXISTS', INFO) == 1
end

local function rooms_key(socket)
  return SOCKET_ROOMS .. socket
end

local function list_key(name)
  if name == 'whitelist' then
    return WHITE
  elseif name == 'blacklist' then
    return BLACK
  elseif name == 'conversations' then
    return CONVERSATIONS
  end
  return nil
end

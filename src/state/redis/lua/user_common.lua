-- Prelude of every user script (scripts.rs puts it in front of each body).
-- KEYS are the user's keys in the order of keys.rs `UserKeys`; ARGV[1] is
-- the prefix of the per-socket room sets, which carry the same hash tag.
local INFO, WHITE, BLACK, SOCKETS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
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
  end
  return nil
end

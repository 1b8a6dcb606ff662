-- Every user read. ARGV: [1], what, then what's arguments.
if not user_exists() then
  return {'noUser'}
end
local what = ARGV[2]

-- protocol.md 5.1: may `sender` write to this user (1/0)?
local function direct_access(sender)
  if redis.call('SISMEMBER', BLACK, sender) == 1 then
    return 0
  end
  if redis.call('HGET', INFO, 'whitelistOnly') == '1' then
    return redis.call('SISMEMBER', WHITE, sender)
  end
  return 1
end
if what == 'list' or what == 'inlist' then
  local key = list_key(ARGV[3])
  if not key then
    return {'noList'}
  end
  if what == 'inlist' then
    return {'ok', redis.call('SISMEMBER', key, ARGV[4])}
  end
  return append({'ok'}, redis.call('SMEMBERS', key))
elseif what == 'whitelistOnly' then
  return {'ok', tonumber(redis.call('HGET', INFO, 'whitelistOnly') or '0')}
elseif what == 'access' then
  return {'ok', direct_access(ARGV[3])}
elseif what == 'recipient' then
  -- ARGV[3] bypass (1/0), ARGV[4] sender: access, then nconnected.
  local access = 1
  if ARGV[3] ~= '1' then
    access = direct_access(ARGV[4])
  end
  return {'ok', access, redis.call('HLEN', SOCKETS)}
elseif what == 'nconnected' then
  return {'ok', redis.call('HLEN', SOCKETS)}
elseif what == 'sockets' then
  -- Per socket: id, number of rooms, the rooms.
  local out = {'ok'}
  for _, socket in ipairs(redis.call('HKEYS', SOCKETS)) do
    local rooms = redis.call('SMEMBERS', rooms_key(socket))
    out[#out + 1] = socket
    out[#out + 1] = #rooms
    append(out, rooms)
  end
  return out
elseif what == 'rooms' then
  local out, listed = {'ok'}, {}
  for _, socket in ipairs(redis.call('HKEYS', SOCKETS)) do
    for _, room in ipairs(redis.call('SMEMBERS', rooms_key(socket))) do
      if not listed[room] then
        listed[room] = true
        out[#out + 1] = room
      end
    end
  end
  return out
elseif what == 'njoined' then
  local n = 0
  for _, socket in ipairs(redis.call('HKEYS', SOCKETS)) do
    n = n + redis.call('SISMEMBER', rooms_key(socket), ARGV[3])
  end
  return {'ok', n}
end
return redis.error_reply('unknown user read ' .. tostring(what))

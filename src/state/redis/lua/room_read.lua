-- Every room read. ARGV: presence ('any', 'member', 'admin' = member or
-- admin, 'deny' = no user), user, what, then what's arguments.
-- Checks in protocol order: noRoom, presence (notJoined), then noList.
if not room_exists() then
  return {'noRoom'}
end
local presence, who, what = ARGV[1], ARGV[2], ARGV[3]
if presence ~= 'any' then
  local allowed = false
  if presence == 'member' then
    allowed = present(who)
  elseif presence == 'admin' then
    allowed = present(who) or is_admin(who)
  end
  if not allowed then
    return {'notJoined'}
  end
end

if what == 'access' then
  if has_access(ARGV[4]) then
    return {'ok', 1}
  end
  return {'ok', 0}
elseif what == 'inlist' or what == 'list' then
  local key = list_key(ARGV[4])
  if not key then
    return {'noList'}
  end
  if what == 'inlist' then
    if key == USERS then
      return {'ok', redis.call('HEXISTS', USERS, ARGV[5])}
    end
    return {'ok', redis.call('SISMEMBER', key, ARGV[5])}
  end
  if key == USERS then
    return append({'ok'}, redis.call('HKEYS', USERS))
  end
  return append({'ok'}, redis.call('SMEMBERS', key))
elseif what == 'owner' then
  local o = owner()
  if o then
    return {'ok', 1, o}
  end
  return {'ok', 0}
elseif what == 'whitelistOnly' then
  return {'ok', flag('whitelistOnly')}
elseif what == 'notifications' then
  return {'ok', flag('userlistUpdates'), flag('accessListsUpdates')}
elseif what == 'seen' then
  local joined = 0
  if present(ARGV[4]) then
    joined = 1
  end
  local at = redis.call('HGET', SEEN, ARGV[4])
  if at then
    return {'ok', joined, 1, at}
  end
  return {'ok', joined, 0}
elseif what == 'historyInfo' then
  return {'ok', redis.call('LLEN', HISTORY), redis.call('HGET', INFO, 'historyMaxSize'),
    redis.call('HGET', INFO, 'lastMessageId')}
elseif what == 'recent' then
  -- Bounded by the stored size: index arithmetic stays on small integers.
  local count = math.min(tonumber(ARGV[4]), redis.call('LLEN', HISTORY))
  if count <= 0 then
    return {'ok'}
  end
  return append({'ok'}, redis.call('LRANGE', HISTORY, 0, count - 1))
elseif what == 'get' then
  -- protocol.md 8: ids id+1 .. min(id+limit, last); history[k] holds last-k.
  local id, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
  if limit <= 0 then
    return {'ok'}
  end
  local last = tonumber(redis.call('HGET', INFO, 'lastMessageId'))
  local from = math.min(id, last)
  local to = math.min(from + limit, last)
  local count = to - from
  if count <= 0 then
    return {'ok'}
  end
  local skip = last - to
  return append({'ok'}, redis.call('LRANGE', HISTORY, skip, skip + count - 1))
elseif what == 'userlist' then
  return append({'ok'}, redis.call('HKEYS', USERS))
end
return redis.error_reply('unknown room read ' .. tostring(what))

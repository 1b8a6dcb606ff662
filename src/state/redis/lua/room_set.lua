-- Room setters. ARGV: field, then: owner name; or for historyMaxSize a
-- has_size flag and the size (the history is trimmed either way); or '1'/'0'
-- for accessListsUpdates and userlistUpdates.
if not room_exists() then
  return {'noRoom'}
end
local field = ARGV[1]
if field == 'owner' then
  redis.call('HSET', INFO, 'owner', ARGV[2])
elseif field == 'historyMaxSize' then
  if ARGV[2] == '1' then
    redis.call('HSET', INFO, 'historyMaxSize', ARGV[3])
  end
  local max = tonumber(redis.call('HGET', INFO, 'historyMaxSize'))
  if max <= 0 then
    redis.call('DEL', HISTORY)
  else
    redis.call('LTRIM', HISTORY, 0, max - 1)
  end
elseif field == 'accessListsUpdates' or field == 'userlistUpdates' then
  redis.call('HSET', INFO, field, ARGV[2])
else
  return redis.error_reply('unknown room setting ' .. tostring(field))
end
return {'ok'}

-- room_add_messages: appends a batch of room messages (append.rs), in
-- order. KEYS[i] is the info key of message i's room, `{P:room:R}:info`
-- (keys.rs; in a Redis Cluster all of them share one slot). ARGV[1] is the
-- feed channel, then five per message: require_member, has_author,
-- author, prefix, room (as a JSON string).
-- The prefix is the message's JSON up to `"id":`, built in Rust so that the
-- client's key order and number formatting survive (cjson would reorder).
-- The messages are published from here, so Redis orders a room's messages
-- on the feed by id (feed.rs): the batch's stored ones as one pub/sub
-- message, `[[room, message], ...]`.
-- Reply: one item per message, its id or a protocol error code.
--
-- This runs for every room message, so it has no prelude (the room
-- scripts' prelude costs more than this body) and makes few calls: every
-- room has its historyMaxSize (room_add.lua), which doubles as the
-- existence check.
local replies, published = {}, {}
for i = 1, #KEYS do
  local info = KEYS[i]
  local tag = string.sub(info, 1, -5)
  local at = 1 + (i - 1) * 5
  local max = redis.call('HGET', info, 'historyMaxSize')
  if not max then
    replies[i] = 'noRoom'
  elseif ARGV[at + 1] == '1' and (ARGV[at + 2] ~= '1'
      or redis.call('HEXISTS', tag .. 'userlist', ARGV[at + 3]) == 0) then
    replies[i] = 'notJoined'
  else
    local id = redis.call('HINCRBY', info, 'lastMessageId', '1')
    -- '%d': concatenating the number itself would format it with '%.14g',
    -- which costs more than the rest of the string work.
    local message = ARGV[at + 4] .. string.format('%d', id) .. '}'
    max = tonumber(max)
    if max > 0 then
      local history = tag .. 'history'
      if redis.call('LPUSH', history, message) > max then
        redis.call('LTRIM', history, '0', string.format('%d', max - 1))
      end
    end
    published[#published + 1] = '[' .. ARGV[at + 5] .. ',' .. message .. ']'
    replies[i] = id
  end
end
if #published > 0 then
  redis.call('PUBLISH', ARGV[1], '[' .. table.concat(published, ',') .. ']')
end
return replies

-- room_add_message. ARGV: require_member, has_author, author, prefix,
-- room (as a JSON string), feed channel.
-- The prefix is the message's JSON up to `"id":`, built in Rust so that the
-- client's key order and number formatting survive (cjson would reorder).
-- The message is published from here, so Redis orders a room's messages
-- on the feed by id (feed.rs).
-- Reply: 'ok', id.
if not room_exists() then
  return {'noRoom'}
end
if ARGV[1] == '1' and (ARGV[2] ~= '1' or not present(ARGV[3])) then
  return {'notJoined'}
end
local id = redis.call('HINCRBY', INFO, 'lastMessageId', 1)
local message = ARGV[4] .. id .. '}'
local max = tonumber(redis.call('HGET', INFO, 'historyMaxSize'))
if max > 0 then
  redis.call('LPUSH', HISTORY, message)
  redis.call('LTRIM', HISTORY, 0, max - 1)
end
redis.call('PUBLISH', ARGV[6], '[' .. ARGV[5] .. ',' .. message .. ']')
return {'ok', id}

-- room_add_message. ARGV: require_member, has_author, author, prefix.
-- The prefix is the message's JSON up to `"id":`, built in Rust so that the
-- client's key order and number formatting survive (cjson would reorder).
-- Reply: 'ok', id.
if not room_exists() then
  return {'noRoom'}
end
if ARGV[1] == '1' and (ARGV[2] ~= '1' or not present(ARGV[3])) then
  return {'notJoined'}
end
local id = redis.call('HINCRBY', INFO, 'lastMessageId', 1)
local max = tonumber(redis.call('HGET', INFO, 'historyMaxSize'))
if max > 0 then
  redis.call('LPUSH', HISTORY, ARGV[4] .. id .. '}')
  redis.call('LTRIM', HISTORY, 0, max - 1)
end
return {'ok', id}

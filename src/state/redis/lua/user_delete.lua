-- delete_user. ARGV: [1].
if not user_exists() then
  return {'noUser'}
end
if redis.call('HLEN', SOCKETS) > 0 then
  return {'userOnline'}
end
redis.call('DEL', INFO, WHITE, BLACK, CONVERSATIONS, SOCKETS)
return {'ok'}

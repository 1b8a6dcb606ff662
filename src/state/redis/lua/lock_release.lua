-- Releases a (user, room) lock only if it is still ours (our token): an
-- expired lock may have been taken by someone else meanwhile.
-- KEYS: the lock. ARGV: token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

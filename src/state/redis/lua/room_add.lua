-- add_room. ARGV: has_owner, owner, whitelist_only, history_max_size,
-- access_lists_updates, userlist_updates, then three counted lists:
-- n, whitelist..., n, blacklist..., n, adminlist...
if room_exists() then
  return {'roomExists'}
end
-- Nothing should be left of an earlier room of that name; make sure.
redis.call('DEL', ADMIN, WHITE, BLACK, USERS, SOCKETS, SEEN, HISTORY)
redis.call('HSET', INFO, 'whitelistOnly', ARGV[3], 'historyMaxSize', ARGV[4],
  'accessListsUpdates', ARGV[5], 'userlistUpdates', ARGV[6], 'lastMessageId', 0)
if ARGV[1] == '1' then
  redis.call('HSET', INFO, 'owner', ARGV[2])
end
add_counted(7, {WHITE, BLACK, ADMIN})
return {'ok'}

-- add_socket, user side. ARGV: [1], socket, instance.
-- Creates the user record if needed; the socket's rooms are kept.
-- Reply: 'ok', the user's socket count.
redis.call('HSETNX', INFO, 'whitelistOnly', '0')
redis.call('HSET', SOCKETS, ARGV[2], ARGV[3])
return {'ok', redis.call('HLEN', SOCKETS)}

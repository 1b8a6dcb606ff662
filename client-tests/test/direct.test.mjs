// Direct messages and direct access lists (protocol.md 5.1, 7.2, 15.17).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer } from '../lib/server.mjs'
import { clientSet, uniq, unorderedWithRedis } from '../lib/client.mjs'

const NA = 'ChatServiceError: Action is not allowed'

describe('direct messages (--enable-direct-messages)', () => {
  const srv = useServer(before, after, ['--enable-direct-messages', '--enable-rooms-management', '--enable-userlist-updates'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('delivers to all recipient sockets, echoes to the sender\'s others, acks the processed message', async () => {
    const from = uniq('from')
    const to = uniq('to')
    const s1 = await t.login(srv.url, from)
    const s2 = await t.login(srv.url, from)
    const r1 = await t.login(srv.url, to)
    const r2 = await t.login(srv.url, to)
    assert.deepEqual(await s1.next('socketConnectEcho'), [s2.id, 2])
    const before = Date.now()
    const m = s1.mark()
    const ack = await s1.call('directMessage', to, { textMessage: 'hi there' })
    const after = Date.now()
    assert.equal(ack.length, 2)
    assert.equal(ack[0], null)
    const msg = ack[1]
    assert.deepEqual(Object.keys(msg), ['textMessage', 'timestamp', 'author'])
    assert.equal(msg.textMessage, 'hi there')
    assert.equal(msg.author, from)
    assert.ok(Number.isInteger(msg.timestamp) && msg.timestamp >= before - 1000 && msg.timestamp <= after + 1000)
    assert.deepEqual(await r1.next('directMessage'), [msg])
    assert.deepEqual(await r2.next('directMessage'), [msg])
    assert.deepEqual(await s2.next('directMessageEcho'), [to, msg])
    assert.deepEqual(s1.eventsSince(m), ['ack:directMessage'])
    await r1.noEvent('directMessageEcho', 50)
    await s2.noEvent('directMessage', 0)
  })

  it('to oneself: notAllowed; to an unknown user: noUser; to an offline known user: noUserOnline', async () => {
    const a = await t.login(srv.url, uniq('a'))
    assert.deepEqual(await a.call('directMessage', a.userName, { textMessage: 'x' }), [NA, null])
    const ghost = uniq('ghost')
    assert.deepEqual(await a.call('directMessage', ghost, { textMessage: 'x' }), [`ChatServiceError: No such user ${ghost}`, null])
    const offName = uniq('off')
    const off = await t.login(srv.url, offName)
    // observe the server-side end of the disconnect: the user leaves a room
    const room = uniq('room')
    await a.ok('roomCreate', room, false)
    await a.ok('roomJoin', room)
    await off.ok('roomJoin', room)
    off.close()
    assert.deepEqual(await a.next('roomUserLeft', { filter: (r, u) => u === offName }), [room, offName])
    assert.deepEqual(await a.call('directMessage', offName, { textMessage: 'x' }),
      [`ChatServiceError: No such user online ${offName}`, null])
  })

  it('blacklist and whitelist mode of the recipient', async () => {
    const rcpt = await t.login(srv.url, uniq('rcpt'))
    const a = await t.login(srv.url, uniq('a'))
    const b = await t.login(srv.url, uniq('b'))
    assert.equal(await rcpt.ok('directAddToList', 'blacklist', [a.userName]), null)
    assert.equal(await a.err('directMessage', rcpt.userName, { textMessage: 'x' }), NA)
    assert.ok(await b.ok('directMessage', rcpt.userName, { textMessage: 'x' }))
    assert.equal(await rcpt.ok('directSetWhitelistMode', true), null)
    assert.equal(await rcpt.ok('directGetWhitelistMode'), true)
    assert.equal(await b.err('directMessage', rcpt.userName, { textMessage: 'x' }), NA)
    await rcpt.ok('directAddToList', 'whitelist', [b.userName])
    assert.ok(await b.ok('directMessage', rcpt.userName, { textMessage: 'y' }))
    // blacklist wins over whitelist
    await rcpt.ok('directAddToList', 'whitelist', [a.userName])
    assert.equal(await a.err('directMessage', rcpt.userName, { textMessage: 'x' }), NA)
    await rcpt.ok('directRemoveFromList', 'blacklist', [a.userName])
    assert.ok(await a.ok('directMessage', rcpt.userName, { textMessage: 'z' }))
    await rcpt.ok('directSetWhitelistMode', false)
    assert.equal(await rcpt.ok('directGetWhitelistMode'), false)
  })

  it('direct lists: get/add/remove, own name notAllowed, bad list noList', async () => {
    const a = await t.login(srv.url, uniq('a'))
    assert.deepEqual(await a.call('directGetAccessList', 'whitelist'), [null, []])
    assert.deepEqual(await a.call('directGetWhitelistMode'), [null, false])
    assert.deepEqual(await a.call('directAddToList', 'whitelist', ['x', 'y', 'x']), [null, null])
    assert.deepEqual(unorderedWithRedis(await a.ok('directGetAccessList', 'whitelist')), unorderedWithRedis(['x', 'y']))
    assert.deepEqual(await a.call('directRemoveFromList', 'whitelist', ['x', 'absent']), [null, null])
    assert.deepEqual(await a.ok('directGetAccessList', 'whitelist'), ['y'])
    assert.deepEqual(await a.call('directAddToList', 'blacklist', ['q', a.userName]), [NA, null])
    assert.deepEqual(await a.call('directRemoveFromList', 'blacklist', [a.userName]), [NA, null])
    assert.deepEqual(await a.call('directAddToList', 'adminlist', ['q']), ['ChatServiceError: No such list adminlist', null])
    assert.deepEqual(await a.call('directAddToList', 'userlist', [a.userName]), ['ChatServiceError: No such list userlist', null])
    assert.deepEqual(await a.call('directRemoveFromList', 'x', ['q']), ['ChatServiceError: No such list x', null])
    assert.deepEqual(await a.call('directGetAccessList', 'nolist'), ['ChatServiceError: No such list nolist', null])
    assert.deepEqual(await a.ok('directGetAccessList', 'blacklist'), [])
    // noList is checked before the own-name rule
    assert.deepEqual(await a.call('directAddToList', 'badlist', [a.userName]), ['ChatServiceError: No such list badlist', null])
  })

  it('message format: only {textMessage: string}', async () => {
    const a = await t.login(srv.url, uniq('a'))
    const b = await t.login(srv.url, uniq('b'))
    assert.equal(await a.err('directMessage', b.userName, { textMessage: 1 }),
      'ChatServiceError: Bad argument at position 1, value {"textMessage":1}')
    assert.equal(await a.err('directMessage', b.userName, { textMessage: 'x', author: 'me' }),
      'ChatServiceError: Bad argument at position 1, value {"textMessage":"x","author":"me"}')
    assert.equal(await a.err('directMessage', b.userName, 'text'),
      'ChatServiceError: Bad argument at position 1, value "text"')
    assert.equal(await a.err('directMessage', 5, { textMessage: 'x' }),
      'ChatServiceError: Bad argument at position 0, value 5')
    await b.noEvent('directMessage', 50)
  })
})

describe('direct messages disabled (default)', () => {
  const srv = useServer(before, after)
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('directMessage is notAllowed (even to unknown users), lists still work', async () => {
    const a = await t.login(srv.url, uniq('a'))
    const b = await t.login(srv.url, uniq('b'))
    assert.deepEqual(await a.call('directMessage', b.userName, { textMessage: 'x' }), [NA, null])
    assert.deepEqual(await a.call('directMessage', uniq('nobody'), { textMessage: 'x' }), [NA, null])
    await b.noEvent('directMessage', 50)
    assert.equal(await a.ok('directAddToList', 'blacklist', [b.userName]), null)
    assert.deepEqual(await a.ok('directGetAccessList', 'blacklist'), [b.userName])
    assert.equal(await a.ok('directSetWhitelistMode', true), null)
  })
})

describe('direct list size limit (--direct-list-size-limit 2)', () => {
  const srv = useServer(before, after, ['--enable-direct-messages', '--direct-list-size-limit', '2'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('listLimitExceeded when current size + names > limit', async () => {
    const a = await t.login(srv.url, uniq('a'))
    assert.deepEqual(await a.call('directAddToList', 'blacklist', ['x', 'y', 'z']),
      ['ChatServiceError: Exceeded blacklist size limit', null])
    assert.deepEqual(await a.ok('directGetAccessList', 'blacklist'), [])
    await a.ok('directAddToList', 'whitelist', ['x', 'y'])
    assert.equal(await a.err('directAddToList', 'whitelist', ['x']), 'ChatServiceError: Exceeded whitelist size limit')
    assert.deepEqual(unorderedWithRedis(await a.ok('directGetAccessList', 'whitelist')), unorderedWithRedis(['x', 'y']))
  })
})

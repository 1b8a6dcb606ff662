// User commands: listOwnSockets, systemMessage (protocol.md 5.2, 5.3, 15.19).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

describe('user commands', () => {
  const srv = useServer(before, after, ['--enable-rooms-management'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('listOwnSockets maps every socket of the user to its rooms', async () => {
    const user = uniq('u')
    const a = await t.login(srv.url, user)
    const b = await t.login(srv.url, user)
    const r1 = uniq('r')
    const r2 = uniq('r')
    await a.ok('roomCreate', r1, false)
    await a.ok('roomCreate', r2, false)
    await a.ok('roomJoin', r1)
    await a.ok('roomJoin', r2)
    await b.ok('roomJoin', r2)
    const sockets = await b.ok('listOwnSockets')
    assert.deepEqual(Object.keys(sockets).sort(), [a.id, b.id].sort())
    assert.deepEqual(sockets[a.id].slice().sort(), [r1, r2].sort())
    assert.deepEqual(sockets[b.id], [r2])
    await a.ok('roomLeave', r1)
    assert.deepEqual(await a.ok('listOwnSockets'), { [a.id]: [r2], [b.id]: [r2] })
    // another user's sockets are not listed
    const other = await t.login(srv.url, uniq('o'))
    assert.deepEqual(await other.ok('listOwnSockets'), { [other.id]: [] })
  })

  it('systemMessage goes to the other sockets only, any value passes through', async () => {
    const user = uniq('u')
    const a = await t.login(srv.url, user)
    const b = await t.login(srv.url, user)
    const c = await t.login(srv.url, user)
    const other = await t.login(srv.url, uniq('o'))
    assert.deepEqual(await a.next('socketConnectEcho'), [b.id, 2])
    assert.deepEqual(await a.next('socketConnectEcho'), [c.id, 3])
    const values = [{ any: ['thing', 1, true, null], nested: { x: 1.5 } }, 'text', 42, null, false, []]
    for (const v of values) {
      const m = a.mark()
      assert.deepEqual(await a.call('systemMessage', v), [null, null])
      assert.deepEqual(a.eventsSince(m), ['ack:systemMessage'])
      assert.deepEqual(await b.next('systemMessage'), [v])
      assert.deepEqual(await c.next('systemMessage'), [v])
    }
    await other.noEvent('systemMessage', 50)
    // extra arguments are cut off
    await a.ok('systemMessage', 'first', 'second', 'third')
    assert.deepEqual(await b.next('systemMessage'), ['first'])
    // no arguments: wrongArgumentsCount
    assert.deepEqual(await a.call('systemMessage'), ['ChatServiceError: Expected 1 arguments, got 0', null])
  })

  it('commands without an ack callback still run fully', async () => {
    const user = uniq('u')
    const a = await t.login(srv.url, user)
    const b = await t.login(srv.url, user)
    const room = uniq('r')
    await a.ok('roomCreate', room, false)
    // requests of one socket run concurrently: only send the next one once the
    // previous one's effect was seen
    a.send('roomJoin', room)
    assert.deepEqual(await b.next('roomJoinedEcho'), [room, a.id, 1])
    a.send('systemMessage', 'no ack')
    assert.deepEqual(await b.next('systemMessage'), ['no ack'])
  })
})

// Socket disconnect sequences (protocol.md 7.3, 15.5).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer } from '../lib/server.mjs'
import { clientSet, uniq, unorderedWithRedis } from '../lib/client.mjs'

describe('disconnect', () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--enable-userlist-updates'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('7.3 example: S1, S2 joined, S3 not; S2 then S1 disconnect', async () => {
    const user = uniq('u')
    const member = await t.login(srv.url, uniq('member'))
    const room = uniq('room')
    await member.ok('roomCreate', room, false)
    await member.ok('roomJoin', room)
    const s1 = await t.login(srv.url, user)
    const s2 = await t.login(srv.url, user)
    const s3 = await t.login(srv.url, user)
    assert.equal(await s1.ok('roomJoin', room), 1)
    assert.equal(await s2.ok('roomJoin', room), 2)
    assert.deepEqual(await member.next('roomUserJoined', { filter: (r, u) => u === user }), [room, user])
    // let the echoes of the joins arrive before taking marks
    assert.deepEqual(await s1.next('roomJoinedEcho'), [room, s2.id, 2])
    assert.deepEqual(await s3.next('roomJoinedEcho'), [room, s1.id, 1])
    assert.deepEqual(await s3.next('roomJoinedEcho'), [room, s2.id, 2])
    s1.clear()
    s3.clear()
    const m1 = s1.mark()
    const m3 = s3.mark()

    s2.close()
    assert.deepEqual(await s1.next('roomLeftEcho'), [room, s2.id, 1])
    assert.deepEqual(await s1.next('socketDisconnectEcho'), [s2.id, 2])
    assert.deepEqual(await s3.next('roomLeftEcho'), [room, s2.id, 1])
    assert.deepEqual(await s3.next('socketDisconnectEcho'), [s2.id, 2])
    assert.deepEqual(s1.eventsSince(m1), ['roomLeftEcho', 'socketDisconnectEcho'])
    assert.deepEqual(s3.eventsSince(m3), ['roomLeftEcho', 'socketDisconnectEcho'])
    await member.noEvent('roomUserLeft', 100)
    assert.deepEqual(unorderedWithRedis(await member.ok('roomGetAccessList', room, 'userlist')), unorderedWithRedis([member.userName, user]))

    const m3b = s3.mark()
    s1.close()
    assert.deepEqual(await s3.next('roomLeftEcho'), [room, s1.id, 0])
    assert.deepEqual(await s3.next('socketDisconnectEcho'), [s1.id, 1])
    assert.deepEqual(s3.eventsSince(m3b), ['roomLeftEcho', 'socketDisconnectEcho'])
    assert.deepEqual(await member.next('roomUserLeft'), [room, user])
    assert.deepEqual(await member.ok('roomGetAccessList', room, 'userlist'), [member.userName])
    assert.deepEqual(await s3.ok('listOwnSockets'), { [s3.id]: [] })
    const seen = await member.ok('roomUserSeen', room, user)
    assert.equal(seen.joined, false)
  })

  it('one roomLeftEcho per room, all before socketDisconnectEcho', async () => {
    const user = uniq('u')
    const a = await t.login(srv.url, user)
    const b = await t.login(srv.url, user)
    const rooms = [uniq('r'), uniq('r'), uniq('r')]
    for (const r of rooms) {
      await a.ok('roomCreate', r, false)
      await a.ok('roomJoin', r)
    }
    for (const r of rooms) assert.deepEqual(await b.next('roomJoinedEcho', { filter: rn => rn === r }), [r, a.id, 1])
    const m = b.mark()
    a.close()
    assert.deepEqual(await b.next('socketDisconnectEcho'), [a.id, 1])
    const got = b.eventsSince(m, { withArgs: true })
    assert.deepEqual(got.map(e => e.event), ['roomLeftEcho', 'roomLeftEcho', 'roomLeftEcho', 'socketDisconnectEcho'])
    assert.deepEqual(got.slice(0, 3).map(e => e.args[0]).sort(), rooms.slice().sort())
    for (const e of got.slice(0, 3)) assert.deepEqual(e.args.slice(1), [a.id, 0])
  })

  it('a socket in no room: only socketDisconnectEcho', async () => {
    const user = uniq('u')
    const a = await t.login(srv.url, user)
    const b = await t.login(srv.url, user)
    const m = b.mark()
    a.close()
    assert.deepEqual(await b.next('socketDisconnectEcho'), [a.id, 1])
    assert.deepEqual(b.eventsSince(m), ['socketDisconnectEcho'])
  })

  it('a room member stops receiving after its socket is gone; the user may come back', async () => {
    const user = uniq('u')
    const member = await t.login(srv.url, uniq('member'))
    const room = uniq('room')
    await member.ok('roomCreate', room, false)
    await member.ok('roomJoin', room)
    const a = await t.login(srv.url, user)
    await a.ok('roomJoin', room)
    a.close()
    assert.deepEqual(await member.next('roomUserLeft', { filter: (r, u) => u === user }), [room, user])
    const a2 = await t.login(srv.url, user)
    assert.deepEqual(await a2.ok('listOwnSockets'), { [a2.id]: [] })
    assert.equal(await a2.ok('roomJoin', room), 1)
    assert.deepEqual(await member.next('roomUserJoined', { filter: (r, u) => u === user }), [room, user])
  })
})

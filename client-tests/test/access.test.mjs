// Access lists and modes: permissions (protocol.md 4.2, 4.4), automatic
// removals (4.5), notifications (5.8, 7.2), edge cases (15.8-15.14).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq, unorderedWithRedis } from '../lib/client.mjs'

const NA = 'ChatServiceError: Action is not allowed'

describe('access lists (--enable-access-lists-updates --enable-userlist-updates)', () => {
  const srv = useServer(before, after,
    ['--enable-rooms-management', '--enable-access-lists-updates', '--enable-userlist-updates'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  /** owner creates room; returns clients. */
  async function setup (mode = false) {
    const owner = await t.login(srv.url, uniq('own'))
    const room = uniq('room')
    await owner.ok('roomCreate', room, mode)
    return { owner, room }
  }

  it('roomNotificationsInfo reflects the flags', async () => {
    const { owner, room } = await setup()
    assert.deepEqual(await owner.ok('roomNotificationsInfo', room),
      { enableUserlistUpdates: true, enableAccessListsUpdates: true })
  })

  it('owner may change every list except userlist', async () => {
    const { owner, room } = await setup()
    for (const list of ['whitelist', 'blacklist', 'adminlist']) {
      assert.deepEqual(await owner.call('roomAddToList', room, list, ['x1', 'x2']), [null, null])
      assert.deepEqual(unorderedWithRedis(await owner.ok('roomGetAccessList', room, list)), unorderedWithRedis(['x1', 'x2']))
      assert.deepEqual(await owner.call('roomRemoveFromList', room, list, ['x1']), [null, null])
      assert.deepEqual(await owner.ok('roomGetAccessList', room, list), ['x2'])
    }
    assert.deepEqual(await owner.call('roomAddToList', room, 'userlist', ['x1']), [NA, null])
    assert.deepEqual(await owner.call('roomRemoveFromList', room, 'userlist', ['x1']), [NA, null])
    assert.deepEqual(await owner.call('roomAddToList', room, 'nolist', ['x1']), ['ChatServiceError: No such list nolist', null])
  })

  it('admins may change whitelist/blacklist but not adminlist, nor name the owner', async () => {
    const { owner, room } = await setup()
    const admin = await t.login(srv.url, uniq('adm'))
    await owner.ok('roomAddToList', room, 'adminlist', [admin.userName])
    assert.equal(await admin.ok('roomAddToList', room, 'whitelist', ['w1']), null)
    assert.equal(await admin.ok('roomAddToList', room, 'blacklist', ['b1']), null)
    assert.equal(await admin.ok('roomRemoveFromList', room, 'blacklist', ['b1']), null)
    assert.equal(await admin.err('roomAddToList', room, 'adminlist', ['a2']), NA)
    assert.equal(await admin.err('roomRemoveFromList', room, 'adminlist', [admin.userName]), NA)
    assert.equal(await admin.err('roomAddToList', room, 'blacklist', ['b2', owner.userName]), NA)
    assert.equal(await admin.err('roomRemoveFromList', room, 'whitelist', [owner.userName]), NA)
    assert.equal(await admin.err('roomAddToList', room, 'userlist', ['u']), NA)
    // an admin with a bad list name gets noList
    assert.equal(await admin.err('roomAddToList', room, 'badlist', ['u']), 'ChatServiceError: No such list badlist')
    // ... but naming the owner is checked before the list name
    assert.equal(await admin.err('roomAddToList', room, 'badlist', [owner.userName]), NA)
    assert.equal(await admin.ok('roomSetWhitelistMode', room, false), null)
    assert.deepEqual(await admin.ok('roomGetAccessList', room, 'blacklist'), [])
    assert.deepEqual(await admin.ok('roomGetAccessList', room, 'whitelist'), ['w1'])
  })

  it('other users get notAllowed for every change (even with a bad list name)', async () => {
    const { room } = await setup()
    const other = await t.login(srv.url, uniq('oth'))
    await other.ok('roomJoin', room)
    for (const list of ['whitelist', 'blacklist', 'adminlist', 'userlist', 'badlist']) {
      assert.equal(await other.err('roomAddToList', room, list, ['z']), NA)
      assert.equal(await other.err('roomRemoveFromList', room, list, ['z']), NA)
    }
    assert.equal(await other.err('roomSetWhitelistMode', room, true), NA)
    assert.equal(await other.err('roomAddToList', 'nope' + room, 'whitelist', ['z']), `ChatServiceError: No such room nope${room}`)
  })

  it('roomAccessListAdded/Removed carry the request names verbatim, also for [] and unchanged names', async () => {
    const { owner, room } = await setup()
    await owner.ok('roomJoin', room)
    const member = await t.login(srv.url, uniq('mem'))
    await member.ok('roomJoin', room)
    await owner.next('roomUserJoined', { filter: (r, u) => u === member.userName })
    const names = ['n1', 'n1', 'unknown user', owner.userName]
    const m = owner.mark()
    assert.equal(await owner.ok('roomAddToList', room, 'whitelist', names), null)
    assert.deepEqual(owner.eventsSince(m), ['roomAccessListAdded', 'ack:roomAddToList'])
    assert.deepEqual(await owner.next('roomAccessListAdded'), [room, 'whitelist', names])
    assert.deepEqual(await member.next('roomAccessListAdded'), [room, 'whitelist', names])
    assert.deepEqual(unorderedWithRedis(await owner.ok('roomGetAccessList', room, 'whitelist')), unorderedWithRedis(['n1', 'unknown user', owner.userName]))
    await owner.ok('roomAddToList', room, 'whitelist', [])
    assert.deepEqual(await owner.next('roomAccessListAdded'), [room, 'whitelist', []])
    // adding a present entry / removing an absent one succeeds
    assert.equal(await owner.ok('roomAddToList', room, 'whitelist', ['n1']), null)
    assert.deepEqual(await owner.next('roomAccessListAdded'), [room, 'whitelist', ['n1']])
    assert.equal(await owner.ok('roomRemoveFromList', room, 'whitelist', ['absent', 'n1']), null)
    assert.deepEqual(await owner.next('roomAccessListRemoved'), [room, 'whitelist', ['absent', 'n1']])
    assert.deepEqual(await member.next('roomAccessListRemoved', { filter: (r, l, n) => n.length === 2 }), [room, 'whitelist', ['absent', 'n1']])
    await owner.ok('roomRemoveFromList', room, 'adminlist', [])
    assert.deepEqual(await owner.next('roomAccessListRemoved'), [room, 'adminlist', []])
  })

  it('roomModeChanged is sent even if the mode did not change', async () => {
    const { owner, room } = await setup()
    await owner.ok('roomJoin', room)
    const m = owner.mark()
    assert.equal(await owner.ok('roomSetWhitelistMode', room, false), null)
    assert.deepEqual(owner.eventsSince(m), ['roomModeChanged', 'ack:roomSetWhitelistMode'])
    assert.deepEqual(await owner.next('roomModeChanged'), [room, false])
  })

  it('blacklisting a present user removes them: order and notifications (7.2)', async () => {
    const { owner, room } = await setup()
    await owner.ok('roomJoin', room)
    const victimName = uniq('vic')
    const v1 = await t.login(srv.url, victimName)
    const v2 = await t.login(srv.url, victimName) // not joined to the room
    const v3 = await t.login(srv.url, victimName)
    await v1.ok('roomJoin', room)
    await v3.ok('roomJoin', room)
    await owner.next('roomUserJoined', { filter: (r, u) => u === victimName })
    assert.deepEqual(await v1.next('roomJoinedEcho'), [room, v3.id, 2])
    owner.clear()
    v1.clear()
    const mo = owner.mark()
    const mv = v1.mark()
    assert.deepEqual(await owner.call('roomAddToList', room, 'blacklist', [victimName]), [null, null])
    assert.deepEqual(owner.eventsSince(mo), ['roomAccessListAdded', 'roomUserLeft', 'ack:roomAddToList'])
    assert.deepEqual(await owner.next('roomAccessListAdded'), [room, 'blacklist', [victimName]])
    assert.deepEqual(await owner.next('roomUserLeft'), [room, victimName])
    // the removed user still gets the list notification, then roomAccessRemoved on all sockets
    assert.deepEqual(await v1.next('roomAccessRemoved'), [room])
    assert.deepEqual(v1.eventsSince(mv), ['roomAccessListAdded', 'roomAccessRemoved'])
    assert.deepEqual(await v2.next('roomAccessRemoved'), [room])
    assert.deepEqual(await v3.next('roomAccessRemoved'), [room])
    for (const v of [v1, v2, v3]) await v.noEvent('roomLeftEcho', 0)
    await v1.noEvent('roomUserLeft', 50)
    assert.deepEqual(await owner.ok('roomGetAccessList', room, 'userlist'), [owner.userName])
    assert.deepEqual(await v2.ok('listOwnSockets'), { [v1.id]: [], [v2.id]: [], [v3.id]: [] })
    // and cannot join again; no more room messages reach them
    assert.equal(await v1.err('roomJoin', room), NA)
    await owner.ok('roomMessage', room, { textMessage: 'after ban' })
    await owner.next('roomMessage')
    await v1.noEvent('roomMessage', 100)
    await v3.noEvent('roomMessage', 0)
    const seen = await owner.ok('roomUserSeen', room, victimName)
    assert.equal(seen.joined, false)
  })

  it('blacklisting an admin (or the owner, by the owner) removes nobody and does not stop joining', async () => {
    const { owner, room } = await setup()
    const admin = await t.login(srv.url, uniq('adm'))
    await owner.ok('roomAddToList', room, 'adminlist', [admin.userName])
    await admin.ok('roomJoin', room)
    await owner.ok('roomJoin', room)
    await owner.ok('roomAddToList', room, 'blacklist', [admin.userName, owner.userName])
    await admin.noEvent('roomAccessRemoved', 100)
    await owner.noEvent('roomAccessRemoved', 0)
    assert.deepEqual(unorderedWithRedis(await owner.ok('roomGetAccessList', room, 'userlist')), unorderedWithRedis([admin.userName, owner.userName]))
    assert.equal(await admin.ok('roomLeave', room), 0)
    assert.equal(await admin.ok('roomJoin', room), 1)
  })

  it('roomSetWhitelistMode(true) removes everyone not whitelisted/admin, the owner too', async () => {
    const { owner, room } = await setup()
    const admin = await t.login(srv.url, uniq('adm'))
    const white = await t.login(srv.url, uniq('wht'))
    const plain = await t.login(srv.url, uniq('pln'))
    await owner.ok('roomAddToList', room, 'adminlist', [admin.userName])
    await owner.ok('roomAddToList', room, 'whitelist', [white.userName])
    for (const c of [owner, admin, white, plain]) await c.ok('roomJoin', room)
    await white.next('roomUserJoined', { filter: (r, u) => u === plain.userName })
    white.clear()
    const m = white.mark()
    assert.equal(await admin.ok('roomSetWhitelistMode', room, true), null)
    assert.deepEqual(await admin.next('roomModeChanged'), [room, true])
    assert.deepEqual(await plain.next('roomAccessRemoved'), [room])
    assert.deepEqual(await owner.next('roomAccessRemoved'), [room])
    // both removed users appear as roomUserLeft to the remaining members (order between them unspecified)
    const left = [(await white.next('roomUserLeft'))[1], (await white.next('roomUserLeft'))[1]].sort()
    assert.deepEqual(left, [owner.userName, plain.userName].sort())
    assert.deepEqual(white.eventsSince(m), ['roomModeChanged', 'roomUserLeft', 'roomUserLeft'])
    await admin.noEvent('roomAccessRemoved', 0)
    await white.noEvent('roomAccessRemoved', 0)
    assert.deepEqual((await admin.ok('roomGetAccessList', room, 'userlist')).sort(), [admin.userName, white.userName].sort())
    // the owner is an admin and may rejoin at once; the plain user may not
    assert.equal(await owner.ok('roomJoin', room), 1)
    assert.equal(await plain.err('roomJoin', room), NA)
    assert.equal(await owner.ok('roomGetWhitelistMode', room), true)
  })

  it('removing from the whitelist of a whitelist-only room removes the user; removing an admin does not', async () => {
    const { owner, room } = await setup(true)
    const w = await t.login(srv.url, uniq('w'))
    const adm = await t.login(srv.url, uniq('adm'))
    await owner.ok('roomAddToList', room, 'whitelist', [w.userName])
    await owner.ok('roomAddToList', room, 'adminlist', [adm.userName])
    await owner.ok('roomJoin', room)
    await w.ok('roomJoin', room)
    await adm.ok('roomJoin', room)
    // removing the admin from the adminlist of a whitelist-only room does not remove them (15.11)
    await owner.ok('roomRemoveFromList', room, 'adminlist', [adm.userName])
    await adm.noEvent('roomAccessRemoved', 100)
    await owner.ok('roomRemoveFromList', room, 'whitelist', [w.userName])
    assert.deepEqual(await w.next('roomAccessRemoved'), [room])
    assert.deepEqual(await owner.next('roomUserLeft', { filter: (r, u) => u === w.userName }), [room, w.userName])
    assert.deepEqual((await owner.ok('roomGetAccessList', room, 'userlist')).sort(), [owner.userName, adm.userName].sort())
  })

  it('removing from the blacklist or adding to whitelist/adminlist removes nobody', async () => {
    const { owner, room } = await setup()
    const u = await t.login(srv.url, uniq('u'))
    await u.ok('roomJoin', room)
    await owner.ok('roomAddToList', room, 'whitelist', [u.userName])
    await owner.ok('roomAddToList', room, 'adminlist', [u.userName])
    await owner.ok('roomRemoveFromList', room, 'adminlist', [u.userName])
    await owner.ok('roomRemoveFromList', room, 'blacklist', [u.userName])
    await owner.ok('roomRemoveFromList', room, 'whitelist', [u.userName]) // mode is false
    await owner.ok('roomSetWhitelistMode', room, false)
    await u.noEvent('roomAccessRemoved', 100)
    assert.deepEqual(await owner.ok('roomGetAccessList', room, 'userlist'), [u.userName])
  })

  it('access check order for roomJoin: admin > blacklist > whitelist-only', async () => {
    const { owner, room } = await setup(true)
    const a = await t.login(srv.url, uniq('a'))
    const b = await t.login(srv.url, uniq('b'))
    await owner.ok('roomAddToList', room, 'whitelist', [a.userName, b.userName])
    await owner.ok('roomAddToList', room, 'blacklist', [b.userName])
    assert.equal(await a.ok('roomJoin', room), 1)
    assert.equal(await b.err('roomJoin', room), NA)
    await owner.ok('roomAddToList', room, 'adminlist', [b.userName])
    assert.equal(await b.ok('roomJoin', room), 1)
  })
})

describe('access lists without notifications flags', () => {
  const srv = useServer(before, after, ['--enable-rooms-management'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('sends no list/mode/userlist notifications, but still roomAccessRemoved', async () => {
    const owner = await t.login(srv.url, uniq('own'))
    const room = uniq('room')
    await owner.ok('roomCreate', room, false)
    assert.deepEqual(await owner.ok('roomNotificationsInfo', room),
      { enableUserlistUpdates: false, enableAccessListsUpdates: false })
    const u = await t.login(srv.url, uniq('u'))
    await owner.ok('roomJoin', room)
    const m = owner.mark()
    await u.ok('roomJoin', room)
    await owner.ok('roomAddToList', room, 'whitelist', ['x'])
    await owner.ok('roomRemoveFromList', room, 'whitelist', ['x'])
    await owner.ok('roomSetWhitelistMode', room, false)
    await owner.ok('roomAddToList', room, 'blacklist', [u.userName])
    assert.deepEqual(await u.next('roomAccessRemoved'), [room])
    // notifications precede the ack on the same connection: only acks were seen
    assert.deepEqual(owner.eventsSince(m), ['ack:roomAddToList', 'ack:roomRemoveFromList', 'ack:roomSetWhitelistMode', 'ack:roomAddToList'])
    await u.noEvent('roomAccessListAdded', 0)
    await u.noEvent('roomUserJoined', 0)
  })
})

describe('room list size limit (--room-list-size-limit 2)', () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--room-list-size-limit', '2'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('counts current size + request names (duplicates too); nothing is added on failure', async () => {
    const owner = await t.login(srv.url, uniq('own'))
    const room = uniq('room')
    await owner.ok('roomCreate', room, false)
    assert.deepEqual(await owner.call('roomAddToList', room, 'whitelist', ['a', 'b', 'c']),
      ['ChatServiceError: Exceeded whitelist size limit', null])
    assert.deepEqual(await owner.ok('roomGetAccessList', room, 'whitelist'), [])
    assert.equal(await owner.ok('roomAddToList', room, 'whitelist', ['a']), null)
    assert.equal(await owner.err('roomAddToList', room, 'whitelist', ['a', 'b']), 'ChatServiceError: Exceeded whitelist size limit')
    assert.equal(await owner.ok('roomAddToList', room, 'whitelist', ['b']), null)
    assert.equal(await owner.err('roomAddToList', room, 'whitelist', ['a']), 'ChatServiceError: Exceeded whitelist size limit')
    assert.equal(await owner.err('roomAddToList', room, 'blacklist', ['x', 'x', 'x']), 'ChatServiceError: Exceeded blacklist size limit')
    assert.deepEqual(unorderedWithRedis(await owner.ok('roomGetAccessList', room, 'whitelist')), unorderedWithRedis(['a', 'b']))
    // removing is never limited; userlist is unlimited
    assert.equal(await owner.ok('roomRemoveFromList', room, 'whitelist', ['a', 'b', 'c']), null)
    for (let i = 0; i < 3; i++) {
      const c = await t.login(srv.url, uniq('m'))
      assert.equal(await c.ok('roomJoin', room), 1)
    }
    assert.equal((await owner.ok('roomGetAccessList', room, 'userlist')).length, 3)
  })
})

// interface.md 5: for the binary, a zero list limit means nothing can be
// added (the original's constructor option treats 0 as "use the default").
describe('zero list size limits (interface.md 5)', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after,
    ['--enable-rooms-management', '--room-list-size-limit', '0', '--direct-list-size-limit', '0'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('--room-list-size-limit 0 and --direct-list-size-limit 0: nothing can be added', async () => {
    const owner = await t.login(srv.url, uniq('own'))
    const room = uniq('room')
    await owner.ok('roomCreate', room, false)
    assert.deepEqual(await owner.call('roomAddToList', room, 'whitelist', ['a']),
      ['ChatServiceError: Exceeded whitelist size limit', null])
    assert.deepEqual(await owner.call('roomAddToList', room, 'whitelist', []), [null, null])
    assert.deepEqual(await owner.call('directAddToList', 'blacklist', ['a']),
      ['ChatServiceError: Exceeded blacklist size limit', null])
    // userlist is not limited
    assert.equal(await owner.ok('roomJoin', room), 1)
  })
})

// Stored one-to-one conversations (this server's extension, README
// "Stored conversations"): the room `dm:<a>:<b>` of two users, made on
// demand when one of them joins it (or with the admin API's
// `openConversation`), whitelist-only for the two, with a history, so a
// message waits for a user who is offline; `conversations([{user, room}])`
// tells a user of theirs at login and when one is made.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq, unorderedWithRedis } from '../lib/client.mjs'

const TOKEN = 'admin-token-for-conversations'
const NA = 'ChatServiceError: Action is not allowed'

async function api (url, method, args) {
  const res = await fetch(`${url}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(args),
    signal: AbortSignal.timeout(5000)
  })
  return { status: res.status, json: await res.json() }
}

const room = (a, b) => `dm:${[a, b].sort().join(':')}`

describe('stored conversations', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--admin-token', TOKEN, '--enable-rooms-management'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('a message to an offline user waits in the conversation; they learn of it at login', async () => {
    const alice = uniq('alice')
    const bob = uniq('bob')
    const dm = room(alice, bob)
    const a = await t.login(srv.url, alice)
    assert.equal(await a.ok('roomJoin', dm), 1)
    assert.deepEqual(await a.next('conversations'), [[{ user: bob, room: dm }]])
    const id = await a.ok('roomMessage', dm, { textMessage: 'are you there?' })
    assert.equal(id, 1)

    const b = await t.login(srv.url, bob)
    assert.deepEqual(await b.next('conversations'), [[{ user: alice, room: dm }]])
    assert.equal(await b.ok('roomJoin', dm), 1)
    const history = await b.ok('roomRecentHistory', dm)
    assert.deepEqual(history.map(m => [m.id, m.author, m.textMessage]), [[1, alice, 'are you there?']])
    // Both are members now: a message reaches the other live.
    await b.ok('roomMessage', dm, { textMessage: 'yes' })
    const [where, message] = await a.next('roomMessage', { filter: (_, m) => m.textMessage === 'yes' })
    assert.equal(where, dm)
    assert.equal(message.author, bob)
  })

  it('nobody else can join, make or claim a conversation room', async () => {
    const alice = uniq('alice')
    const bob = uniq('bob')
    const carol = uniq('carol')
    const dm = room(alice, bob)
    const a = await t.login(srv.url, alice)
    await a.ok('roomJoin', dm)
    const c = await t.login(srv.url, carol)
    assert.equal((await c.err('roomJoin', dm)).toString(), NA)
    const [createError] = await c.call('roomCreate', room(carol, uniq('dave')), false)
    assert.match(String(createError), /contains invalid characters/)
    // Another pair's conversation is not made by a third user joining it.
    const other = room(alice, uniq('erin'))
    assert.match(String(await c.err('roomJoin', other)), /No such room/)
    // The owner-less room's lists cannot be changed by its users either.
    assert.equal((await a.err('roomAddToList', dm, 'whitelist', [carol])).toString(), NA)
  })

  it('a conversation made while the other user is online tells them at once', async () => {
    const alice = uniq('alice')
    const bob = uniq('bob')
    const dm = room(alice, bob)
    const b1 = await t.login(srv.url, bob)
    const b2 = await t.login(srv.url, bob)
    const a = await t.login(srv.url, alice)
    await a.ok('roomJoin', dm)
    for (const b of [b1, b2]) assert.deepEqual(await b.next('conversations'), [[{ user: alice, room: dm }]])
    // Joining it again makes nothing new: no second event.
    await a.ok('roomLeave', dm)
    await a.ok('roomJoin', dm)
    await a.next('conversations')
    assert.deepEqual(a.pending('conversations'), [])
    assert.deepEqual(b1.pending('conversations'), [])
  })

  it('the admin API opens one from the server side, once', async () => {
    const alice = uniq('alice')
    const bob = uniq('bob')
    const dm = room(alice, bob)
    const a = await t.login(srv.url, alice)
    const opened = await api(srv.url, 'openConversation', [bob, alice])
    assert.deepEqual(opened, { status: 200, json: { result: dm } })
    assert.deepEqual(await a.next('conversations'), [[{ user: bob, room: dm }]])
    assert.deepEqual(await api(srv.url, 'openConversation', [alice, bob]), { status: 200, json: { result: dm } })
    const self = await api(srv.url, 'openConversation', [alice, alice])
    assert.equal(self.status, 400)
    assert.equal(self.json.error.code, 'badArgument')
    const bad = await api(srv.url, 'openConversation', [alice, 'x:y'])
    assert.equal(bad.status, 400)
    assert.equal(bad.json.error.code, 'invalidName')
    // A user who logs in later learns of every conversation of theirs.
    const carol = uniq('carol')
    await api(srv.url, 'openConversation', [carol, alice])
    const b = await t.login(srv.url, bob)
    assert.deepEqual(await b.next('conversations'), [[{ user: alice, room: dm }]])
    const a2 = await t.login(srv.url, alice)
    // In the order they were made (in any order with Redis: a set).
    const [list] = await a2.next('conversations')
    assert.deepEqual(unorderedWithRedis(list.map(c => JSON.stringify(c))),
      unorderedWithRedis([{ user: bob, room: dm }, { user: carol, room: room(alice, carol) }].map(c => JSON.stringify(c))))
  })
})

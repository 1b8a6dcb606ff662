// Several instances on one Redis (protocol.md 14, interface.md 1, 3, 4):
// two servers A and B with the same --redis-url and --redis-prefix, real
// socket.io clients on both. Runs when CHAT_SERVICE_REDIS_URL is set
// (scripts/test.sh starts a redis-server, and a Redis Cluster with
// CHAT_SERVICE_REDIS_CLUSTER=1); skipped otherwise.
//
// Cross-instance events travel through Redis pub/sub: every wait below is
// for an event (with a timeout), never for time to pass; the only sleeps
// are short windows asserting that something does NOT arrive.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, expectExit, redisFlags, uniquePrefix, REDIS_URL, REDIS_CLUSTER, ORIGINAL
} from '../lib/server.mjs'
import { clientSet, uniq, sleep, eventually } from '../lib/client.mjs'
import { startRedis, freePort } from '../lib/redis.mjs'

const TOKEN = 'cluster-admin-token'
const NEEDS_REDIS = ORIGINAL
  ? 'needs the Rust binary'
  : (REDIS_URL ? false : 'needs CHAT_SERVICE_REDIS_URL (a Redis shared by two instances; scripts/test.sh starts one)')
const MODE = REDIS_CLUSTER ? 'Redis Cluster' : 'Redis'

/** What every instance here runs with (plus its Redis flags and id). */
const COMMON = [
  '--admin-token', TOKEN,
  '--enable-rooms-management', '--enable-direct-messages', '--enable-userlist-updates',
  '--history-max-get-messages', '1000',
  '--heartbeat-rate', '200'
]

async function api (url, method, args = []) {
  const res = await fetch(`${url}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(args),
    signal: AbortSignal.timeout(15000)
  })
  const text = await res.text()
  let json
  try { json = JSON.parse(text) } catch {}
  return { status: res.status, json, text }
}

/** `api` that must answer 200; resolves with `result`. */
async function apiOk (url, method, args = []) {
  const r = await api(url, method, args)
  assert.equal(r.status, 200, `${method}${JSON.stringify(args)}: ${r.status} ${r.text}`)
  return r.json.result
}

/** Starts an instance with the Redis flags of `prefix` and id `id`. */
function instance (prefix, id, extra = [], env = {}) {
  return startServer([...COMMON, ...redisFlags(prefix), '--instance-id', id, ...extra], { env })
}

/**
 * Starts servers concurrently; if one fails, stops the others and throws
 * (so an `after` hook never misses a started server).
 */
async function startAll (...starting) {
  const results = await Promise.allSettled(starting)
  const failed = results.find(r => r.status === 'rejected')
  if (failed) {
    await Promise.all(results.filter(r => r.status === 'fulfilled').map(r => r.value.stop()))
    throw failed.reason
  }
  return results.map(r => r.value)
}

/** Closes the clients, stops the servers, then the test's own Redis. */
async function closeWithRedis (t, redis, ...servers) {
  t.closeAll()
  try {
    await stopAll(...servers)
  } finally {
    if (redis) await redis.close()
  }
}

/** Stops servers and fails if a graceful stop did not exit 0. */
async function stopAll (...servers) {
  const codes = await Promise.all(servers.filter(Boolean).map(s => s.stop()))
  codes.forEach((code, i) => {
    const s = servers.filter(Boolean)[i]
    if (code !== 0 && s.proc.signalCode !== 'SIGKILL') {
      throw new Error(`${s.flags.join(' ')} exited with ${code} on SIGTERM\n${s.output()}`)
    }
  })
}

/**
 * Records the ids of `roomMessage`s of `room` that `client` receives, in
 * arrival order. `waitFor(n)` resolves once `n` have arrived.
 */
function recordIds (client, room) {
  const ids = []
  const waiters = []
  client.socket.on('roomMessage', (r, msg) => {
    if (r !== room) return
    ids.push(msg.id)
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (ids.length >= waiters[i].n) {
        clearTimeout(waiters[i].timer)
        waiters[i].resolve()
        waiters.splice(i, 1)
      }
    }
  })
  return {
    ids,
    waitFor (n, timeout = 10000) {
      if (ids.length >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const w = { n, resolve }
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1)
          reject(new Error(`${client.user}: ${ids.length} of ${n} messages of ${room} after ${timeout} ms`))
        }, timeout)
        waiters.push(w)
      })
    }
  }
}

/** Describes ids that are missing, duplicated or out of order (or null). */
function idProblems (ids, expected) {
  const want = new Set(expected)
  const seen = new Map()
  for (const id of ids) seen.set(id, (seen.get(id) || 0) + 1)
  const missing = expected.filter(id => !seen.has(id))
  const dup = [...seen].filter(([, n]) => n > 1).map(([id]) => id)
  const extra = [...seen.keys()].filter(id => !want.has(id))
  const inversions = []
  for (let i = 1; i < ids.length; i++) if (ids[i] < ids[i - 1]) inversions.push(`${ids[i - 1]}>${ids[i]}@${i}`)
  const out = []
  if (missing.length) out.push(`missing ${missing.length}: ${missing.slice(0, 20).join(',')}`)
  if (dup.length) out.push(`duplicated ${dup.length}: ${dup.slice(0, 20).join(',')}`)
  if (extra.length) out.push(`unexpected ${extra.length}: ${extra.slice(0, 20).join(',')}`)
  if (inversions.length) out.push(`out of order ${inversions.length}x: ${inversions.slice(0, 10).join(' ')}`)
  return out.length ? out.join('; ') : null
}

/** Sends `count` messages keeping at most `window` acks outstanding. */
async function sendWindowed (client, room, count, window, tag) {
  const acked = []
  const failed = []
  let next = 0
  async function lane () {
    while (next < count) {
      const i = next++
      const [error, id] = await client.callT(30000, 'roomMessage', room, { textMessage: `${tag} ${i}` })
      if (error === null) acked.push(id)
      else failed.push({ i, error })
    }
  }
  await Promise.all(Array.from({ length: window }, lane))
  return { acked, failed }
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const byId = (a, b) => a - b

describe(`two instances on one ${MODE}`, { skip: NEEDS_REDIS }, () => {
  const prefix = uniquePrefix('cluster')
  const idA = `A-${prefix}`
  const idB = `B-${prefix}`
  let A, B
  const t = clientSet()

  before(async () => {
    [A, B] = await startAll(instance(prefix, idA), instance(prefix, idB))
  })
  after(async () => {
    t.closeAll()
    await stopAll(A, B)
  })
  afterEach(() => t.closeAll())

  it('both report state "redis" and their own instance id on /health', async () => {
    for (const [s, id] of [[A, idA], [B, idB]]) {
      const res = await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(5000) })
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { status: 'ok', instanceId: id, state: 'redis' })
    }
  })

  it('one user on A and B: connect/disconnect echoes count across instances, room echoes cross, listOwnSockets lists both', async () => {
    const user = uniq('alice')
    const room = uniq('room')
    const a1 = await t.login(A.url, user)
    const b1 = await t.login(B.url, user)
    assert.deepEqual(await a1.next('socketConnectEcho'), [b1.id, 2])
    assert.equal(await a1.ok('roomCreate', room, false), null)

    assert.equal(await a1.ok('roomJoin', room), 1)
    assert.deepEqual(await b1.next('roomJoinedEcho'), [room, a1.id, 1])
    assert.equal(await b1.ok('roomJoin', room), 2)
    assert.deepEqual(await a1.next('roomJoinedEcho'), [room, b1.id, 2])
    const both = { [a1.id]: [room], [b1.id]: [room] }
    assert.deepEqual(await a1.ok('listOwnSockets'), both)
    assert.deepEqual(await b1.ok('listOwnSockets'), both)

    assert.equal(await b1.ok('roomLeave', room), 1)
    assert.deepEqual(await a1.next('roomLeftEcho'), [room, b1.id, 1])
    assert.equal(await a1.ok('roomLeave', room), 0)
    assert.deepEqual(await b1.next('roomLeftEcho'), [room, a1.id, 0])
    assert.deepEqual(await a1.ok('listOwnSockets'), { [a1.id]: [], [b1.id]: [] })

    // a third socket, on B: both others count it
    const b2 = await t.login(B.url, user)
    assert.deepEqual(await a1.next('socketConnectEcho'), [b2.id, 3])
    assert.deepEqual(await b1.next('socketConnectEcho'), [b2.id, 3])
    assert.equal(await b2.ok('roomJoin', room), 1)
    assert.deepEqual(await a1.next('roomJoinedEcho'), [room, b2.id, 1])
    assert.deepEqual(await b1.next('roomJoinedEcho'), [room, b2.id, 1])

    // B's sockets disconnect: A's socket gets the echoes with global counts
    b2.close()
    assert.deepEqual(await a1.next('roomLeftEcho'), [room, b2.id, 0])
    assert.deepEqual(await a1.next('socketDisconnectEcho'), [b2.id, 2])
    assert.deepEqual(await b1.next('socketDisconnectEcho'), [b2.id, 2])
    b1.close()
    assert.deepEqual(await a1.next('socketDisconnectEcho'), [b1.id, 1])
    assert.deepEqual(await a1.ok('listOwnSockets'), { [a1.id]: [] })
    await a1.noEvent('roomLeftEcho', 0) // b1 was not joined
  })

  it('systemMessage and direct messages cross instances (directMessageEcho to the sender\'s socket on the other one)', async () => {
    const alice = uniq('alice')
    const bob = uniq('bob')
    const a1 = await t.login(A.url, alice)
    const a2 = await t.login(B.url, alice)
    await a1.next('socketConnectEcho')
    assert.equal(await a1.ok('systemMessage', { from: 'A' }), null)
    assert.deepEqual(await a2.next('systemMessage'), [{ from: 'A' }])
    assert.equal(await a2.ok('systemMessage', ['from', 'B', 1]), null)
    assert.deepEqual(await a1.next('systemMessage'), [['from', 'B', 1]])
    await a1.noEvent('systemMessage', 0) // not to the caller itself

    // bob only on B writes to alice: both her sockets get it
    const b2 = await t.login(B.url, bob)
    const sent = await b2.ok('directMessage', alice, { textMessage: 'hi from B' })
    assert.equal(sent.author, bob)
    assert.deepEqual(await a1.next('directMessage'), [sent])
    assert.deepEqual(await a2.next('directMessage'), [sent])

    // bob gets a socket on A; alice's reply from B reaches both of bob's,
    // and alice's socket on A gets the echo
    const b1 = await t.login(A.url, bob)
    assert.deepEqual(await b2.next('socketConnectEcho'), [b1.id, 2])
    const reply = await a2.ok('directMessage', bob, { textMessage: 'hi from alice on B' })
    assert.deepEqual(await b1.next('directMessage'), [reply])
    assert.deepEqual(await b2.next('directMessage'), [reply])
    assert.deepEqual(await a1.next('directMessageEcho'), [bob, reply])
    // and bob's message from A echoes to his socket on B
    const third = await b1.ok('directMessage', alice, { textMessage: 'from A' })
    assert.deepEqual(await b2.next('directMessageEcho'), [alice, third])
    assert.deepEqual(await a2.next('directMessage'), [third])

    // presence is global: alice only on B is online for bob on A
    a1.close()
    assert.deepEqual(await a2.next('socketDisconnectEcho'), [a1.id, 1])
    const last = await b1.ok('directMessage', alice, { textMessage: 'still there?' })
    assert.deepEqual(await a2.next('directMessage'), [last])
    a2.close()
    await eventually(async () => {
      assert.equal(await b1.err('directMessage', alice, { textMessage: 'gone' }), `ChatServiceError: No such user online ${alice}`)
    })
  })

  it('socket.io-client 2.x on B and 4.x on A in one room and one user', async () => {
    const user = uniq('mixed')
    const room = uniq('room')
    const v4 = await t.login(A.url, user, { version: 4 })
    const v2 = await t.login(B.url, user, { version: 2 })
    assert.deepEqual(await v4.next('socketConnectEcho'), [v2.id, 2])
    await v4.ok('roomCreate', room, false)
    assert.equal(await v2.ok('roomJoin', room), 1)
    assert.deepEqual(await v4.next('roomJoinedEcho'), [room, v2.id, 1])
    assert.equal(await v4.ok('roomJoin', room), 2)
    assert.deepEqual(await v2.next('roomJoinedEcho'), [room, v4.id, 2])
    const other = await t.login(A.url, uniq('other'), { version: 2 })
    await other.ok('roomJoin', room)
    const id1 = await v2.ok('roomMessage', room, { textMessage: 'from v2 on B' })
    const id2 = await other.ok('roomMessage', room, { textMessage: 'from v2 on A' })
    for (const c of [v4, v2, other]) {
      const [, m1] = await c.next('roomMessage', { filter: (r, m) => m.id === id1 })
      assert.equal(m1.textMessage, 'from v2 on B')
      const [, m2] = await c.next('roomMessage', { filter: (r, m) => m.id === id2 })
      assert.equal(m2.textMessage, 'from v2 on A')
    }
  })

  // ids received by each member in the interleaving test, for the order test after it
  let interleaved = null

  it('a room with members on both: every message reaches every member; 200 concurrent messages from both sides get unique ids, each received exactly once, history 1..200', async () => {
    const room = uniq('room')
    const names = [uniq('m'), uniq('m'), uniq('m'), uniq('m')]
    const members = [
      await t.login(A.url, names[0]), await t.login(B.url, names[1]),
      await t.login(A.url, names[2]), await t.login(B.url, names[3])
    ]
    await members[0].ok('roomCreate', room, false)
    for (const m of members) await m.ok('roomJoin', room)
    const recs = members.map(m => recordIds(m, room))

    // one message from each side reaches everyone
    const first = await members[0].ok('roomMessage', room, { textMessage: 'from A' })
    const second = await members[1].ok('roomMessage', room, { textMessage: 'from B' })
    assert.deepEqual([first, second], [1, 2])
    for (const r of recs) await r.waitFor(2)

    // 99 more from each side, all sent at once
    const N = 200
    const sends = []
    for (let i = 0; i < (N - 2) / 2; i++) {
      sends.push(members[0].call('roomMessage', room, { textMessage: `A ${i}` }))
      sends.push(members[1].call('roomMessage', room, { textMessage: `B ${i}` }))
    }
    const acks = await Promise.all(sends)
    const errors = acks.filter(a => a[0] !== null)
    assert.deepEqual(errors, [], 'every roomMessage succeeds')
    const ids = [first, second, ...acks.map(a => a[1])]
    assert.deepEqual(ids.slice().sort(byId), range(1, N), 'ids are unique and contiguous')

    await Promise.all(recs.map(r => r.waitFor(N)))
    await sleep(200) // absence window: no late duplicates
    const where = (i) => `${names[i]} (on ${i % 2 ? 'B' : 'A'})`
    const problems = recs.map((r, i) => {
      const p = idProblems(r.ids.slice().sort(byId), range(1, N))
      return p && `${where(i)}: ${p}`
    }).filter(Boolean)
    assert.deepEqual(problems, [], 'every member receives every id exactly once')
    interleaved = recs.map((r, i) => ({ who: where(i), ids: r.ids.slice(), N }))

    const info = await members[3].ok('roomHistoryInfo', room)
    assert.equal(info.lastMessageId, N)
    assert.equal(info.historySize, N)
    const history = await members[3].ok('roomHistoryGet', room, 0, N)
    assert.deepEqual(history.map(m => m.id), range(1, N).reverse())
    const recent = await members[0].ok('roomRecentHistory', room)
    assert.deepEqual(recent.map(m => m.id), range(1, N).reverse())
  })

  // Each room's messages reach every instance through one ordered Redis
  // channel (published by the script that gives the id), so a member sees
  // them in id order whichever instance sent them.
  it('... and each member receives those ids in increasing order', () => {
    assert.ok(interleaved, 'the interleaving test above did not get this far')
    const order = interleaved.map(({ who, ids, N }) => {
      const p = idProblems(ids, range(1, N))
      return p && `${who}: ${p}`
    }).filter(Boolean)
    assert.deepEqual(order, [], 'every member receives the ids in increasing order')
  })

  it('access removal on A (blacklist) kicks the member socket on B: roomAccessRemoved, and no more messages of the room', async () => {
    const room = uniq('room')
    const owner = await t.login(A.url, uniq('owner'))
    const victim = await t.login(B.url, uniq('victim'))
    const victimA = await t.login(A.url, victim.user) // the victim's socket on A too
    const watcher = await t.login(B.url, uniq('watcher'))
    await owner.ok('roomCreate', room, false)
    for (const c of [owner, victim, victimA, watcher]) await c.ok('roomJoin', room)
    assert.equal(await victim.ok('roomMessage', room, { textMessage: 'before' }), 1)
    for (const c of [owner, victim, victimA, watcher]) await c.next('roomMessage', { filter: (r, m) => m.id === 1 })

    assert.equal(await owner.ok('roomAddToList', room, 'blacklist', [victim.user]), null)
    assert.deepEqual(await victim.next('roomAccessRemoved'), [room])
    assert.deepEqual(await victimA.next('roomAccessRemoved'), [room])
    assert.deepEqual(await watcher.next('roomUserLeft', { filter: (r, u) => u === victim.user }), [room, victim.user])
    assert.deepEqual(await owner.next('roomUserLeft', { filter: (r, u) => u === victim.user }), [room, victim.user])

    const id = await owner.ok('roomMessage', room, { textMessage: 'after the removal' })
    const [, seen] = await watcher.next('roomMessage', { filter: (r, m) => m.id === id })
    assert.equal(seen.textMessage, 'after the removal')
    await victim.noEvent('roomMessage', 300, (r, m) => m.id === id)
    await victimA.noEvent('roomMessage', 0, (r, m) => m.id === id)
    assert.deepEqual(await victim.ok('listOwnSockets'), { [victim.id]: [], [victimA.id]: [] })
    assert.equal(await victim.err('roomMessage', room, { textMessage: 'x' }), `ChatServiceError: Not joined to room ${room}`)
    assert.equal(await victim.err('roomJoin', room), 'ChatServiceError: Action is not allowed')
  })

  it('room deletion on A kicks the member sockets on B: roomAccessRemoved, and a re-created room of that name does not reach them', async () => {
    const room = uniq('room')
    const owner = await t.login(A.url, uniq('owner'))
    const member = await t.login(B.url, uniq('member'))
    const other = await t.login(B.url, uniq('other'))
    await owner.ok('roomCreate', room, false)
    for (const c of [owner, member, other]) await c.ok('roomJoin', room)

    assert.equal(await owner.ok('roomDelete', room), null)
    assert.deepEqual(await member.next('roomAccessRemoved'), [room])
    assert.deepEqual(await other.next('roomAccessRemoved'), [room])
    assert.deepEqual(await owner.next('roomAccessRemoved'), [room])
    assert.deepEqual(await member.ok('listOwnSockets'), { [member.id]: [] })
    assert.equal(await member.err('roomJoin', room), `ChatServiceError: No such room ${room}`)

    // same name again: the channel is reused, the old members are not in it
    await owner.ok('roomCreate', room, false)
    await owner.ok('roomJoin', room)
    const newcomer = await t.login(B.url, uniq('newcomer'))
    await newcomer.ok('roomJoin', room)
    const id = await owner.ok('roomMessage', room, { textMessage: 'second life' })
    assert.equal(id, 1)
    await newcomer.next('roomMessage', { filter: (r, m) => m.textMessage === 'second life' })
    await member.noEvent('roomMessage', 300)
    await other.noEvent('roomMessage', 0)
  })

  for (const version of [4, 2]) {
    it(`execUserCommand roomJoin through A for a socket on B (socket.io-client ${version}.x; protocol.md 14.5, this server's extension): B subscribes it, the echoes and roomUserJoined reach both instances; errors as for a local join`, async () => {
      const room = uniq('room')
      const user = uniq('alice')
      const owner = await t.login(A.url, uniq('owner'))
      const memberA = await t.login(A.url, uniq('memberA'))
      const memberB = await t.login(B.url, uniq('memberB'))
      const target = await t.login(B.url, user, { version })
      const otherA = await t.login(A.url, user)
      assert.deepEqual(await target.next('socketConnectEcho'), [otherA.id, 2])
      await owner.ok('roomCreate', room, false)
      for (const c of [memberA, memberB]) await c.ok('roomJoin', room)

      const context = { userName: user, id: target.id }
      assert.deepEqual(await apiOk(A.url, 'execUserCommand', [context, 'roomJoin', room]), [1])
      // server calls echo to all the user's sockets, the joined one included
      for (const c of [target, otherA]) assert.deepEqual(await c.next('roomJoinedEcho'), [room, target.id, 1])
      for (const c of [memberA, memberB, target]) {
        assert.deepEqual(await c.next('roomUserJoined', { filter: (r, u) => u === user }), [room, user])
      }
      assert.deepEqual(await otherA.ok('listOwnSockets'), { [target.id]: [room], [otherA.id]: [] })
      // the socket on B is in the room: it gets the messages sent on A, and may send
      const id = await memberA.ok('roomMessage', room, { textMessage: 'to the joined socket' })
      const [, msg] = await target.next('roomMessage', { filter: (r, m) => m.id === id })
      assert.equal(msg.textMessage, 'to the joined socket')
      const own = await target.ok('roomMessage', room, { textMessage: 'from B' })
      await memberA.next('roomMessage', { filter: (r, m) => m.id === own })
      await otherA.noEvent('roomMessage', 0) // not joined
      // joined already: the current count, nothing sent
      assert.deepEqual(await apiOk(A.url, 'execUserCommand', [context, 'roomJoin', room]), [1])

      // errors as for a local join, and the socket stays out
      const closed = uniq('closed')
      await owner.ok('roomCreate', closed, true) // whitelist only
      await owner.ok('roomJoin', closed)
      const notAllowed = await api(A.url, 'execUserCommand', [context, 'roomJoin', closed])
      assert.equal(notAllowed.status, 422, notAllowed.text)
      assert.equal(notAllowed.json.error.code, 'notAllowed')
      const ghost = uniq('ghost')
      const noRoom = await api(A.url, 'execUserCommand', [context, 'roomJoin', ghost])
      assert.equal(noRoom.status, 422, noRoom.text)
      assert.deepEqual(noRoom.json.error, { name: 'ChatServiceError', code: 'noRoom', args: [ghost], message: `No such room ${ghost}` })
      assert.deepEqual(await target.ok('listOwnSockets'), { [target.id]: [room], [otherA.id]: [] })
      await owner.ok('roomMessage', closed, { textMessage: 'members only' })
      await target.noEvent('roomMessage', 300, (r) => r === closed)

      // a socket that is gone: invalidSocket, and the state does not get it
      const gone = await t.login(B.url, user, { version })
      assert.deepEqual(await otherA.next('socketConnectEcho'), [gone.id, 3])
      gone.close()
      assert.deepEqual(await otherA.next('socketDisconnectEcho'), [gone.id, 2])
      const invalid = await api(A.url, 'execUserCommand', [{ userName: user, id: gone.id }, 'roomJoin', room])
      assert.equal(invalid.status, 422, invalid.text)
      assert.deepEqual(invalid.json.error.code, 'invalidSocket')
      assert.deepEqual(invalid.json.error.args, [gone.id])
      assert.deepEqual(await otherA.ok('listOwnSockets'), { [target.id]: [room], [otherA.id]: [] })

      // and roomLeave the same way, as before
      assert.deepEqual(await apiOk(A.url, 'execUserCommand', [context, 'roomLeave', room]), [0])
      assert.deepEqual(await otherA.next('roomLeftEcho'), [room, target.id, 0])
      const after = await memberA.ok('roomMessage', room, { textMessage: 'after the leave' })
      await memberB.next('roomMessage', { filter: (r, m) => m.id === after })
      await target.noEvent('roomMessage', 300, (r, m) => m.id === after)
    })
  }

  it('disconnectUserSockets through A\'s admin API disconnects the user\'s sockets on B ("io server disconnect")', async () => {
    const user = uniq('dis')
    const onA = await t.login(A.url, user)
    const onB1 = await t.login(B.url, user)
    const onB2 = await t.login(B.url, user, { version: 2 })
    const bystander = await t.login(B.url, uniq('bystander'))
    assert.equal(await apiOk(A.url, 'disconnectUserSockets', [user]), null)
    for (const c of [onA, onB1, onB2]) assert.deepEqual(await c.next('disconnect'), ['io server disconnect'])
    assert.ok(bystander.connectedNow)
    // the state forgets them: a new socket is the user's only one
    const again = await t.login(B.url, user)
    await eventually(async () => assert.deepEqual(await again.ok('listOwnSockets'), { [again.id]: [] }))
    // and B's own API does it for sockets on A
    const again2 = await t.login(A.url, user)
    assert.equal(await apiOk(B.url, 'disconnectUserSockets', [user]), null)
    assert.deepEqual(await again.next('disconnect'), ['io server disconnect'])
    assert.deepEqual(await again2.next('disconnect'), ['io server disconnect'])
  })

  it('push and presence (interface.md 4.1) through either instance reach sockets on both: isUserOnline, emitToUser, emitToSocket, emitToRoom, emitToAll', async () => {
    const user = uniq('push')
    const room = uniq('room')
    // the user only on A: B's API sees them online
    const onA = (await t.login(A.url, user, { version: 4 })).watch('news')
    assert.equal(await apiOk(B.url, 'isUserOnline', [user]), true)
    assert.equal(await apiOk(B.url, 'isUserOnline', [uniq('ghost')]), false)
    const onB = (await t.login(B.url, user, { version: 2 })).watch('news')
    await onA.next('socketConnectEcho')
    const bystander = (await t.login(B.url, uniq('bystander'))).watch('news')

    // emitToUser from each instance reaches both of the user's sockets
    for (const [via, n] of [[A, 1], [B, 2]]) {
      assert.equal(await apiOk(via.url, 'emitToUser', [user, 'news', n, { via: via.url }]), 2)
      assert.deepEqual(await onA.next('news'), [n, { via: via.url }])
      assert.deepEqual(await onB.next('news'), [n, { via: via.url }])
    }
    // emitToSocket from the instance that does not hold the socket
    assert.equal(await apiOk(B.url, 'emitToSocket', [onA.id, 'news', 'to A']), true)
    assert.deepEqual(await onA.next('news'), ['to A'])
    assert.equal(await apiOk(A.url, 'emitToSocket', [onB.id, 'news', 'to B']), true)
    assert.deepEqual(await onB.next('news'), ['to B'])
    assert.equal(await apiOk(A.url, 'emitToSocket', ['/chat-service#AAAAAAAAAAAAAAAA', 'news']), false)

    // emitToRoom from A reaches the member on B only
    await onA.ok('roomCreate', room, false)
    await onB.ok('roomJoin', room)
    assert.equal(await apiOk(A.url, 'emitToRoom', [room, 'news', 'room']), null)
    assert.deepEqual(await onB.next('news'), ['room'])

    // emitToAll from A reaches every socket of both
    assert.equal(await apiOk(A.url, 'emitToAll', ['news', 'all']), null)
    for (const c of [onA, onB, bystander]) assert.deepEqual(await c.next('news'), ['all'])
    await onA.noEvent('news', 0) // the room push was not A's socket's
    await bystander.noEvent('news', 0)

    // refused names stay refused through either instance
    const refused = await api(B.url, 'emitToUser', [user, 'directMessage', { textMessage: 'forged' }])
    assert.equal(refused.status, 400, refused.text)
    assert.equal(refused.json.error.code, 'badArgument')

    // the socket on A goes: A's API counts the one on B; B's socket goes: offline for both
    const idA = onA.id
    onA.close()
    assert.deepEqual(await onB.next('socketDisconnectEcho'), [idA, 1])
    assert.equal(await apiOk(A.url, 'emitToUser', [user, 'news', 'last']), 1)
    assert.deepEqual(await onB.next('news'), ['last'])
    assert.equal(await apiOk(B.url, 'emitToSocket', [idA, 'news']), false)
    const watcher = await t.login(A.url, uniq('watcher'))
    await watcher.ok('roomJoin', room)
    onB.close()
    assert.deepEqual(await watcher.next('roomUserLeft'), [room, user])
    for (const via of [A, B]) {
      assert.equal(await apiOk(via.url, 'isUserOnline', [user]), false)
      assert.equal(await apiOk(via.url, 'emitToUser', [user, 'news']), 0)
    }
  })

  it('heartbeats: each instance sees the other\'s, and they advance', async () => {
    const hbB = await apiOk(A.url, 'getInstanceHeartbeat', [idB])
    assert.equal(typeof hbB, 'number')
    assert.ok(Math.abs(hbB - Date.now()) < 60000, `${hbB} is about now`)
    assert.equal(typeof await apiOk(B.url, 'getInstanceHeartbeat', [idA]), 'number')
    await eventually(async () => assert.ok(await apiOk(A.url, 'getInstanceHeartbeat', [idB]) > hbB))
    assert.equal(await apiOk(A.url, 'getInstanceHeartbeat', ['no-such-instance']), null)
  })

  it('kill -9 of an instance, then instanceRecovery through A: its sockets leave the state, members on A get roomUserLeft, its last heartbeat stays readable', async () => {
    const idC = `C-${prefix}`
    const startedAt = Date.now()
    const C = await instance(prefix, idC)
    try {
      const room = uniq('room')
      const both = uniq('both') // sockets on A and on C
      const onlyC = uniq('onlyc') // only on C
      const watcher = await t.login(A.url, uniq('watcher'))
      await watcher.ok('roomCreate', room, false)
      await watcher.ok('roomJoin', room)
      const bothA = await t.login(A.url, both)
      const bothC = await t.login(C.url, both)
      const lone = await t.login(C.url, onlyC)
      await bothA.next('socketConnectEcho')
      for (const c of [bothA, bothC, lone]) await c.ok('roomJoin', room)
      await bothA.next('roomJoinedEcho', { filter: (r, id) => id === bothC.id })
      await watcher.next('roomUserJoined', { filter: (r, u) => u === onlyC })
      watcher.clear()
      bothA.clear()

      // C has written heartbeats (every 200 ms)
      const hb1 = await apiOk(A.url, 'getInstanceHeartbeat', [idC])
      assert.equal(typeof hb1, 'number')
      await eventually(async () => assert.ok(await apiOk(A.url, 'getInstanceHeartbeat', [idC]) > hb1))

      C.proc.kill('SIGKILL')
      await C.exited
      const killedAt = Date.now()
      for (const c of [bothC, lone]) await c.next('disconnect')

      // a crash leaves its sockets in the state
      assert.deepEqual(Object.keys(await bothA.ok('listOwnSockets')).sort(), [bothA.id, bothC.id].sort())
      assert.deepEqual((await watcher.ok('roomGetAccessList', room, 'userlist')).sort(),
        [watcher.userName, both, onlyC].sort())

      const last = await apiOk(A.url, 'getInstanceHeartbeat', [idC])
      assert.equal(typeof last, 'number')
      assert.ok(last >= startedAt - 1000 && last <= killedAt + 1000, `last heartbeat ${last} between start ${startedAt} and kill ${killedAt}`)

      assert.equal(await apiOk(A.url, 'instanceRecovery', [idC]), null)
      // full disconnect processing of C's sockets
      assert.deepEqual(await bothA.next('roomLeftEcho'), [room, bothC.id, 1])
      assert.deepEqual(await bothA.next('socketDisconnectEcho'), [bothC.id, 1])
      assert.deepEqual(await watcher.next('roomUserLeft'), [room, onlyC])
      await watcher.noEvent('roomUserLeft', 300, (r, u) => u === both)
      assert.deepEqual(await bothA.ok('listOwnSockets'), { [bothA.id]: [room] })
      assert.deepEqual((await watcher.ok('roomGetAccessList', room, 'userlist')).sort(), [watcher.userName, both].sort())
      const seen = await watcher.ok('roomUserSeen', room, onlyC)
      assert.equal(seen.joined, false)
      assert.equal(typeof seen.timestamp, 'number')
      assert.equal((await watcher.ok('roomUserSeen', room, both)).joined, true)
      // onlyC is offline now
      const dm = await t.login(A.url, uniq('dm'))
      assert.equal(await dm.err('directMessage', onlyC, { textMessage: 'x' }), `ChatServiceError: No such user online ${onlyC}`)

      // the heartbeat is the last one C wrote, and stays so
      assert.equal(await apiOk(A.url, 'getInstanceHeartbeat', [idC]), last)
      await sleep(500) // absence window: a dead instance writes no heartbeat
      assert.equal(await apiOk(B.url, 'getInstanceHeartbeat', [idC]), last)
    } finally {
      C.proc.kill('SIGKILL')
    }
  })

  it('SIGTERM of an instance: its sockets get full disconnect processing that reaches the other instance before it exits (protocol.md 14.5)', async () => {
    const idC = `C-${prefix}`
    const C = await instance(prefix, idC)
    let stopped = false
    try {
      const room = uniq('room')
      const user1 = uniq('user1') // on A only
      const user2 = uniq('user2') // one socket on A, two on C
      const user3 = uniq('user3') // on C only
      const u1 = await t.login(A.url, user1)
      await u1.ok('roomCreate', room, false)
      const u2a = await t.login(A.url, user2)
      const u2c1 = await t.login(C.url, user2)
      const u2c2 = await t.login(C.url, user2, { version: 2 })
      const u3 = await t.login(C.url, user3)
      for (const c of [u1, u2a, u2c1, u2c2, u3]) await c.ok('roomJoin', room)
      await u1.next('roomUserJoined', { filter: (r, u) => u === user3 })
      await u2a.next('roomJoinedEcho', { filter: (r, id, n) => n === 3 })
      u1.clear()
      u2a.clear()

      const code = await C.stop()
      stopped = true
      assert.equal(code, 0, C.output())
      // user2's socket on A: a roomLeftEcho and a socketDisconnectEcho per
      // socket of C, counting down
      const left = [await u2a.next('roomLeftEcho'), await u2a.next('roomLeftEcho')]
      assert.deepEqual(left.map(([r]) => r), [room, room])
      assert.deepEqual(left.map(([, id]) => id).sort(), [u2c1.id, u2c2.id].sort())
      assert.deepEqual(left.map(([, , n]) => n), [2, 1])
      const gone = [await u2a.next('socketDisconnectEcho'), await u2a.next('socketDisconnectEcho')]
      assert.deepEqual(gone.map(([, n]) => n), [2, 1])
      // room members: user3 left, user2 is still there
      assert.deepEqual(await u1.next('roomUserLeft'), [room, user3])
      await u1.noEvent('roomUserLeft', 300, (r, u) => u === user2)
      assert.deepEqual(await u2a.ok('listOwnSockets'), { [u2a.id]: [room] })
      assert.deepEqual((await u1.ok('roomGetAccessList', room, 'userlist')).sort(), [user1, user2].sort())
      // C's clients were told the transport closed (they reconnect by themselves)
      for (const c of [u2c1, u2c2, u3]) assert.deepEqual(await c.next('disconnect'), ['transport close'])
    } finally {
      if (!stopped) C.proc.kill('SIGKILL')
    }
  })

  it('no silent loss under load: 10 members on both instances, 2 senders x 2000 messages with 16 acks in flight each, received in id order', async () => {
    const room = uniq('load')
    const PER_SENDER = 2000
    const WINDOW = 16
    const members = []
    for (let i = 0; i < 10; i++) members.push(await t.login(i % 2 ? B.url : A.url, uniq(`load${i}`)))
    await members[0].ok('roomCreate', room, false)
    for (const m of members) await m.ok('roomJoin', room)
    for (const m of members) m.clear()
    const recs = members.map(m => recordIds(m, room))

    const started = Date.now()
    const [fromA, fromB] = await Promise.all([
      sendWindowed(members[0], room, PER_SENDER, WINDOW, 'A'),
      sendWindowed(members[1], room, PER_SENDER, WINDOW, 'B')
    ])
    const ackedAt = Date.now()
    const acked = [...fromA.acked, ...fromB.acked].sort(byId)
    await Promise.all(recs.map(r => r.waitFor(acked.length, 60000).catch(() => {})))
    const deliveredAt = Date.now()
    const secs = (ms) => (ms / 1000).toFixed(2)
    const total = 2 * PER_SENDER
    console.log(`# load (${MODE}): ${acked.length}/${total} acked in ${secs(ackedAt - started)} s ` +
      `(${Math.round(acked.length / ((ackedAt - started) / 1000))} msg/s); ` +
      `${acked.length * members.length} deliveries complete after ${secs(deliveredAt - started)} s ` +
      `(${Math.round(acked.length * members.length / ((deliveredAt - started) / 1000))} deliveries/s)`)

    const problems = recs.map((r, i) => {
      const p = idProblems(r.ids, acked)
      return p && `${members[i].user} (on ${i % 2 ? 'B' : 'A'}): ${p}`
    }).filter(Boolean)
    assert.deepEqual(problems, [], 'every member receives every acked id exactly once, in id order')
    assert.deepEqual([...fromA.failed, ...fromB.failed].slice(0, 5), [], 'every roomMessage is acked without error')
    assert.deepEqual(acked, range(1, total))
  })
})

/** The value of an unlabelled counter on `/metrics` (0 when absent). */
async function counter (server, name) {
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
  const line = text.split('\n').find(l => l.startsWith(`${name} `))
  return line ? Number(line.split(' ')[1]) : 0
}

describe(`automatic recovery of instances on one ${MODE} (protocol.md 14.5)`, { skip: NEEDS_REDIS }, () => {
  const RATE = 200 // COMMON's --heartbeat-rate
  const TIMEOUT = 2000
  const prefix = uniquePrefix('recovery')
  const fast = ['--heartbeat-timeout', String(TIMEOUT)]
  let X, Y
  const t = clientSet()

  before(async () => {
    // info: the recovery's log line is part of what is checked
    const info = { RUST_LOG: 'info' }
    ;[X, Y] = await startAll(instance(prefix, `X-${prefix}`, fast, info), instance(prefix, `Y-${prefix}`, fast, info))
  })
  after(async () => {
    t.closeAll()
    await stopAll(X, Y)
  })
  afterEach(() => t.closeAll())

  /**
   * A third instance Z, a watcher on X in a room, user `both` with a socket
   * on X and one on Z, user `lone` only on Z, all joined.
   */
  async function scene () {
    const idZ = `Z-${uniq('z')}-${prefix}`
    const Z = await instance(prefix, idZ, fast)
    const room = uniq('room')
    const both = uniq('both')
    const lone = uniq('lone')
    const watcher = await t.login(X.url, uniq('watcher'))
    await watcher.ok('roomCreate', room, false)
    await watcher.ok('roomJoin', room)
    const bothX = await t.login(X.url, both)
    const bothZ = await t.login(Z.url, both)
    const loneZ = await t.login(Z.url, lone, { version: 2 })
    for (const c of [bothX, bothZ, loneZ]) await c.ok('roomJoin', room)
    await bothX.next('roomJoinedEcho', { filter: (r, id) => id === bothZ.id })
    await watcher.next('roomUserJoined', { filter: (r, u) => u === lone })
    watcher.clear()
    bothX.clear()
    return { Z, idZ, room, both, lone, watcher, bothX, bothZ, loneZ }
  }

  it('kill -9 of an instance: a live one recovers it by itself within heartbeatTimeout + heartbeatRate, exactly once, and forgets it', async () => {
    const { Z, idZ, room, both, lone, watcher, bothX, bothZ } = await scene()
    const recoveredBefore = await counter(X, 'chat_service_instances_recovered_total') +
      await counter(Y, 'chat_service_instances_recovered_total')
    try {
      Z.proc.kill('SIGKILL')
      await Z.exited
      const killedAt = Date.now()
      // full disconnect processing of Z's sockets, without anyone calling instanceRecovery
      assert.deepEqual(await watcher.next('roomUserLeft', { timeout: 15000 }), [room, lone])
      const took = Date.now() - killedAt
      console.log(`# instance recovered ${took} ms after kill -9 (heartbeat timeout ${TIMEOUT} ms, rate ${RATE} ms)`)
      assert.ok(took < TIMEOUT + RATE + 1500, `recovered after ${took} ms`)
      assert.deepEqual(await bothX.next('roomLeftEcho'), [room, bothZ.id, 1])
      assert.deepEqual(await bothX.next('socketDisconnectEcho'), [bothZ.id, 1])
      assert.deepEqual(await bothX.ok('listOwnSockets'), { [bothX.id]: [room] })
      assert.deepEqual((await watcher.ok('roomGetAccessList', room, 'userlist')).sort(), [watcher.userName, both].sort())
      const dm = await t.login(Y.url, uniq('dm'))
      assert.equal(await dm.err('directMessage', lone, { textMessage: 'x' }), `ChatServiceError: No such user online ${lone}`)
      // exactly once across the cluster, and the dead instance is forgotten
      await eventually(async () => assert.equal(await apiOk(X.url, 'getInstanceHeartbeat', [idZ]), null))
      const recovered = await counter(X, 'chat_service_instances_recovered_total') +
        await counter(Y, 'chat_service_instances_recovered_total')
      assert.equal(recovered - recoveredBefore, 1)
      assert.match(X.output() + Y.output(), new RegExp(`recovering an instance whose heartbeat is stale.*${idZ}|${idZ}.*recovering an instance`))
      await watcher.noEvent('roomUserLeft', RATE * 3) // no second recovery
    } finally {
      Z.proc.kill('SIGKILL')
    }
  })

  it('an instance cut off for longer than heartbeatTimeout (SIGSTOP) is recovered, then registers its sockets again when it is back (SIGCONT)', async () => {
    const { Z, room, both, lone, watcher, bothX, bothZ, loneZ } = await scene()
    try {
      Z.proc.kill('SIGSTOP')
      assert.deepEqual(await watcher.next('roomUserLeft', { timeout: 15000 }), [room, lone])
      assert.deepEqual(await bothX.next('roomLeftEcho'), [room, bothZ.id, 1])
      Z.proc.kill('SIGCONT')
      // back: its sockets are registered again and rejoin their room
      assert.deepEqual(await watcher.next('roomUserJoined', { timeout: 15000, filter: (r, u) => u === lone }), [room, lone])
      assert.deepEqual(await bothX.next('socketConnectEcho'), [bothZ.id, 2])
      assert.deepEqual(await bothX.next('roomJoinedEcho', { filter: (r, id) => id === bothZ.id }), [room, bothZ.id, 2])
      assert.deepEqual(await loneZ.ok('listOwnSockets'), { [loneZ.id]: [room] })
      assert.deepEqual((await watcher.ok('roomGetAccessList', room, 'userlist')).sort(), [watcher.userName, both, lone].sort())
      // and keeps working: a message from the cut-off side reaches the watcher
      const id = await loneZ.ok('roomMessage', room, { textMessage: 'back' })
      assert.equal((await watcher.next('roomMessage', { filter: (r, m) => m.id === id }))[1].textMessage, 'back')
      assert.match(Z.output(), /registering its sockets again/)
      for (const c of [bothZ, loneZ]) assert.equal(c.pending('disconnect').length, 0)
    } finally {
      Z.proc.kill('SIGCONT')
      Z.proc.kill('SIGKILL')
    }
  })
})

describe('Redis round trips per command (MONITOR on a Redis of its own)', {
  skip: NEEDS_REDIS || (REDIS_CLUSTER ? 'uses a standalone redis-server of its own; runs in the standalone Redis run' : false)
}, () => {
  let redis, A
  const t = clientSet()

  before(async () => {
    redis = await startRedis()
    // no heartbeat writes inside the measured windows
    A = await startServer(['--admin-token', TOKEN, '--enable-rooms-management', '--enable-direct-messages',
      '--state', 'redis', '--redis-url', redis.url, '--redis-prefix', uniquePrefix('trips'),
      '--instance-id', 'trips-A', '--heartbeat-rate', '600000'])
  })
  after(() => closeWithRedis(t, redis, A))

  it('a roomMessage is one round trip (one EVALSHA, which also publishes it); history reads one each; a directMessage one script and its two broadcasts', async () => {
    const a = await t.login(A.url, uniq('a'))
    const b = await t.login(A.url, uniq('b'))
    const room = uniq('room')
    await a.ok('roomCreate', room, false)
    await a.ok('roomJoin', room)
    await b.ok('roomJoin', room)
    const N = 50
    const rows = []
    async function measure (name, call) {
      const monitor = await redis.monitor()
      for (let i = 0; i < N; i++) await call(i)
      const { roundTrips, inScripts } = await monitor.stop()
      const total = Object.values(roundTrips).reduce((x, y) => x + y, 0)
      rows.push({ name, perCall: total / N, roundTrips, inScripts })
      return rows.at(-1)
    }
    const message = await measure('roomMessage', i => a.ok('roomMessage', room, { textMessage: `m${i}` }))
    const reads = [
      await measure('roomRecentHistory', () => b.ok('roomRecentHistory', room)),
      await measure('roomHistoryGet', () => b.ok('roomHistoryGet', room, 0, 20)),
      await measure('roomHistoryInfo', () => b.ok('roomHistoryInfo', room))
    ]
    const direct = await measure('directMessage', i => a.ok('directMessage', b.user, { textMessage: `d${i}` }))
    for (const r of rows) {
      console.log(`# round trips per ${r.name}: ${r.perCall} (${JSON.stringify(r.roundTrips)}; inside scripts ${JSON.stringify(r.inScripts)})`)
    }
    assert.deepEqual(message.roundTrips, { evalsha: N })
    assert.equal(message.inScripts.publish, N, 'the script publishes each message')
    for (const r of reads) assert.equal(r.perCall, 1, `${r.name}: ${JSON.stringify(r.roundTrips)}`)
    // one script checks the recipient; the message and its echo are two
    // adapter broadcasts
    assert.deepEqual(direct.roundTrips, { evalsha: N, spublish: 2 * N })
  })
})

describe('Redis stopped and restarted under running instances', {
  skip: NEEDS_REDIS || (REDIS_CLUSTER ? 'uses a standalone redis-server of its own; runs in the standalone Redis run' : false)
}, () => {
  let redis, A, B
  const t = clientSet()
  const prefix = uniquePrefix('restart')

  function onRedis (id) {
    return startServer([...COMMON, '--state', 'redis', '--redis-url', redis.url, '--redis-prefix', prefix,
      '--instance-id', id])
  }

  before(async () => {
    redis = await startRedis()
    ;[A, B] = await startAll(onRedis('restart-A'), onRedis('restart-B'))
  })
  after(() => closeWithRedis(t, redis, A, B))

  async function health (s) {
    const res = await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(15000) })
    return { status: res.status, body: await res.json().catch(() => null) }
  }

  it('while Redis is down, once the instances know it, commands, logins, admin calls and /health answer within 1 s (503); after a restart with an empty Redis the old sockets are registered again and told their rooms are gone; new users can create, join and use a room across instances', async () => {
    const u = await t.login(A.url, uniq('u'))
    const m = await t.login(B.url, uniq('m'))
    const room = uniq('room')
    await u.ok('roomCreate', room, false)
    await u.ok('roomJoin', room)
    await m.ok('roomJoin', room)
    const id = await u.ok('roomMessage', room, { textMessage: 'before' })
    await m.next('roomMessage', { filter: (r, msg) => msg.id === id })

    await redis.stop()
    for (const s of [A, B]) {
      await eventually(async () => assert.equal((await health(s)).status, 503), { timeout: 10000, interval: 50 })
    }
    // all at once, each timed: commands on each instance, /health of both,
    // an admin call, a new login
    const t0 = Date.now()
    const timed = async (promise) => { const value = await promise; return { value, ms: Date.now() - t0 } }
    const late = t.connect(A.url, uniq('late'))
    const [sent, read, join, healthA, healthB, admin, login] = await Promise.all([
      timed(u.callT(20000, 'roomMessage', room, { textMessage: 'while down' })),
      timed(m.callT(20000, 'roomHistoryInfo', room)),
      timed(m.callT(20000, 'roomJoin', room)),
      timed(health(A)),
      timed(health(B)),
      timed(api(B.url, 'hasRoom', [room])),
      timed(late.nextAny(['loginConfirmed', 'loginRejected'], { timeout: 20000 }))
    ])
    console.log(`# with Redis down: roomMessage on A acked ${JSON.stringify(sent.value[0])} after ${sent.ms} ms; ` +
      `roomHistoryInfo on B after ${read.ms} ms; roomJoin on B after ${join.ms} ms; /health ${healthA.value.status} after ${healthA.ms} ms; ` +
      `admin hasRoom ${admin.value.status} after ${admin.ms} ms; login: ${login.value.event} ${JSON.stringify(login.value.args[0])} after ${login.ms} ms`)
    for (const [what, ack] of [['roomMessage', sent], ['roomHistoryInfo', read], ['roomJoin', join]]) {
      assert.equal(typeof ack.value[0], 'string', `${what}: an error, not ${JSON.stringify(ack.value)}`)
      assert.ok(ack.ms < 1000, `${what}: the error came after ${ack.ms} ms`)
    }
    for (const h of [healthA, healthB]) {
      assert.equal(h.value.status, 503, JSON.stringify(h.value.body))
      if (h.value.body) assert.equal(h.value.body.state, 'redis')
      assert.ok(h.ms < 1000, `/health answered after ${h.ms} ms`)
    }
    assert.equal(admin.value.status, 500, admin.value.text)
    assert.ok(admin.ms < 1000, `the admin call answered after ${admin.ms} ms`)
    // a login while Redis is down is rejected, not left hanging
    assert.equal(login.value.event, 'loginRejected')
    assert.ok(login.ms < 1000, `loginRejected came after ${login.ms} ms`)

    await redis.restart()
    for (const s of [A, B]) {
      await eventually(async () => assert.equal((await health(s)).status, 200), { timeout: 30000, interval: 100 })
    }

    // the state was lost with the restart: the sockets still connected are
    // registered again, and told that their room is gone
    for (const c of [u, m]) {
      assert.deepEqual(await c.next('roomAccessRemoved', { timeout: 15000 }), [room])
      await eventually(async () => assert.deepEqual(await c.ok('listOwnSockets'), { [c.id]: [] }))
    }
    // what a new user sees works
    const x = await t.login(A.url, uniq('x'))
    const y = await t.login(B.url, uniq('y'))
    const room2 = uniq('room')
    assert.equal(await x.ok('roomCreate', room2, false), null)
    assert.equal(await x.ok('roomJoin', room2), 1)
    assert.equal(await y.ok('roomJoin', room2), 1)
    assert.deepEqual(await x.next('roomUserJoined', { filter: (r, name) => name === y.user }), [room2, y.user])
    assert.equal(await x.ok('roomMessage', room2, { textMessage: 'from A' }), 1)
    assert.equal(await y.ok('roomMessage', room2, { textMessage: 'from B' }), 2)
    for (const c of [x, y]) {
      assert.equal((await c.next('roomMessage', { filter: (r, msg) => msg.id === 1 }))[1].textMessage, 'from A')
      assert.equal((await c.next('roomMessage', { filter: (r, msg) => msg.id === 2 }))[1].textMessage, 'from B')
    }
    assert.deepEqual((await y.ok('roomRecentHistory', room2)).map(msg => msg.textMessage), ['from B', 'from A'])
    // a second socket of x on B: the echoes cross again
    const x2 = await t.login(B.url, x.user)
    assert.deepEqual(await x.next('socketConnectEcho'), [x2.id, 2])
    // and the cluster bus: a removal on A unsubscribes y's socket on B
    assert.equal(await x.ok('roomAddToList', room2, 'blacklist', [y.user]), null)
    assert.deepEqual(await y.next('roomAccessRemoved'), [room2])
    const id3 = await x.ok('roomMessage', room2, { textMessage: 'after the removal' })
    await x2.ok('roomJoin', room2)
    const id4 = await x.ok('roomMessage', room2, { textMessage: 'to x2' })
    await x2.next('roomMessage', { filter: (r, msg) => msg.id === id4 })
    await y.noEvent('roomMessage', 300, (r, msg) => msg.id === id3 || msg.id === id4)
  })
})

describe('Redis emptied under running instances (FLUSHALL)', {
  skip: NEEDS_REDIS || (REDIS_CLUSTER ? 'uses a standalone redis-server of its own; runs in the standalone Redis run' : false)
}, () => {
  let redis, A, B
  const t = clientSet()
  const prefix = uniquePrefix('flush')

  before(async () => {
    redis = await startRedis()
    const on = (id) => startServer([...COMMON, '--state', 'redis', '--redis-url', redis.url, '--redis-prefix', prefix,
      '--instance-id', id])
    ;[A, B] = await startAll(on('flush-A'), on('flush-B'))
  })
  after(() => closeWithRedis(t, redis, A, B))

  it('every connected socket is registered again (the state knows it, its other sockets are told), rooms it was in are gone: roomAccessRemoved; what users do next works', async () => {
    const user = uniq('u')
    const a = await t.login(A.url, user)
    const b = await t.login(B.url, user, { version: 2 })
    const other = await t.login(B.url, uniq('o'))
    await a.next('socketConnectEcho')
    const room = uniq('room')
    await a.ok('roomCreate', room, false)
    for (const c of [a, b, other]) await c.ok('roomJoin', room)
    a.clear()

    await redis.cli('flushall')
    for (const c of [a, b, other]) assert.deepEqual(await c.next('roomAccessRemoved', { timeout: 15000 }), [room])
    // registered again: 2 sockets for the user, listOwnSockets works on both
    await eventually(async () => {
      for (const c of [a, b]) {
        assert.deepEqual(await c.ok('listOwnSockets'), { [a.id]: [], [b.id]: [] })
      }
    })
    assert.deepEqual(await other.ok('listOwnSockets'), { [other.id]: [] })
    // the user's socket on A heard of the one on B coming back (counted 1
    // or 2: the instances register their sockets each on its own beat)
    const [, n] = await a.next('socketConnectEcho', { filter: (id) => id === b.id })
    assert.ok(n === 1 || n === 2, `nconnected ${n}`)
    // and the service works: a new room across both instances
    const room2 = uniq('room')
    await a.ok('roomCreate', room2, false)
    assert.equal(await a.ok('roomJoin', room2), 1)
    assert.equal(await b.ok('roomJoin', room2), 2)
    await other.ok('roomJoin', room2)
    const id = await other.ok('roomMessage', room2, { textMessage: 'after the flush' })
    assert.equal(id, 1)
    for (const c of [a, b]) await c.next('roomMessage', { filter: (r, m) => m.id === id })
    for (const c of [a, b, other]) assert.equal(c.pending('disconnect').length, 0)
  })
})

describe('unreachable Redis at start', { skip: NEEDS_REDIS }, () => {
  async function rejected (flags) {
    const r = await expectExit(flags, { timeout: 30000 })
    assert.equal(r.listened, false, 'it started')
    assert.equal(r.code, 2, `exit code ${r.code}\n${r.stderr}${r.stdout}`)
    const lines = (r.stderr + r.stdout).split('\n').filter(l => l.includes('--redis-url'))
    assert.equal(lines.length, 1, `one line naming --redis-url in:\n${r.stderr}${r.stdout}`)
  }

  it('exits 2 with one line naming --redis-url (nothing listens on the port)', { skip: REDIS_CLUSTER && 'the standalone Redis run has it' }, async () => {
    await rejected(['--state', 'redis', '--redis-url', `redis://127.0.0.1:${await freePort()}`])
  })

  it('the same with --redis-cluster and a node list', { skip: !REDIS_CLUSTER && 'the Redis Cluster run has it' }, async () => {
    const [p1, p2] = [await freePort(), await freePort()]
    await rejected(['--state', 'redis', '--redis-cluster', '--redis-url', `127.0.0.1:${p1},127.0.0.1:${p2}`])
  })
})

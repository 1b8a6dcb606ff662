// Admin API over HTTP (interface.md 4) and GET /health (interface.md 3).
// Only our binary has them.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer, startServer, ADMIN_SKIP, OURS_ONLY, STATE } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

const TOKEN = 'admin-token-for-tests'

async function api (url, method, body, { token = TOKEN, raw = false, headers = {} } = {}) {
  const h = { 'content-type': 'application/json', ...headers }
  if (token !== null) h.authorization = `Bearer ${token}`
  const res = await fetch(`${url}/api/${method}`, {
    method: 'POST',
    headers: h,
    body: raw ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(5000)
  })
  const text = await res.text()
  let json
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, json, text }
}

function assertError (r, status, code, args, message) {
  assert.equal(r.status, status, r.text)
  assert.deepEqual(Object.keys(r.json), ['error'])
  assert.equal(r.json.error.name, 'ChatServiceError')
  assert.equal(r.json.error.code, code)
  if (args !== undefined) assert.deepEqual(r.json.error.args, args)
  if (message !== undefined) assert.equal(r.json.error.message, message)
}

describe('admin API (--admin-token)', { skip: ADMIN_SKIP }, () => {
  const srv = useServer(before, after, ['--admin-token', TOKEN, '--enable-userlist-updates'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('401 without a token or with a wrong one', async () => {
    assert.equal((await api(srv.url, 'hasRoom', ['x'], { token: null })).status, 401)
    assert.equal((await api(srv.url, 'hasRoom', ['x'], { token: 'wrong' })).status, 401)
    assert.equal((await api(srv.url, 'hasRoom', ['x'], { token: TOKEN + 'x' })).status, 401)
  })

  it('404 for an unknown method', async () => {
    assert.equal((await api(srv.url, 'noSuchMethod', [])).status, 404)
    assert.equal((await api(srv.url, 'close', [])).status, 404)
  })

  it('400 badArgument for a body that is not a JSON array', async () => {
    assertError(await api(srv.url, 'hasRoom', { roomName: 'x' }), 400, 'badArgument')
    assertError(await api(srv.url, 'hasRoom', '"x"', { raw: true }), 400, 'badArgument')
    assertError(await api(srv.url, 'hasRoom', 'not json', { raw: true }), 400, 'badArgument')
  })

  it('addRoom / hasRoom / deleteRoom with status codes and bodies', async () => {
    const room = uniq('room')
    assert.deepEqual(await api(srv.url, 'hasRoom', [room]).then(r => [r.status, r.json]), [200, { result: false }])
    assert.deepEqual(await api(srv.url, 'addRoom', [room]).then(r => [r.status, r.json]), [200, { result: null }])
    assert.deepEqual(await api(srv.url, 'hasRoom', [room]).then(r => [r.status, r.json]), [200, { result: true }])
    assertError(await api(srv.url, 'addRoom', [room]), 409, 'roomExists', [room], `Room ${room} already exists`)
    assertError(await api(srv.url, 'addRoom', ['bad:name']), 400, 'invalidName', ['bad:name'], 'String bad:name contains invalid characters')
    assert.deepEqual(await api(srv.url, 'deleteRoom', [room]).then(r => [r.status, r.json]), [200, { result: null }])
    const r = await api(srv.url, 'deleteRoom', [room])
    assert.equal(r.status, 422)
    assert.deepEqual(r.json, { error: { name: 'ChatServiceError', code: 'noRoom', args: [room], message: `No such room ${room}` } })
    assert.deepEqual(Object.keys(r.json.error), ['name', 'code', 'args', 'message'])
  })

  it('a room added through the API is usable by clients; addRoom state is honoured', async () => {
    const room = uniq('room')
    const owner = uniq('owner')
    assert.equal((await api(srv.url, 'addRoom', [room, { owner, whitelistOnly: true, whitelist: ['allowed'] }])).status, 200)
    const o = await t.login(srv.url, owner)
    assert.equal(await o.ok('roomGetOwner', room), owner)
    assert.equal(await o.ok('roomGetWhitelistMode', room), true)
    assert.deepEqual(await o.ok('roomGetAccessList', room, 'whitelist'), ['allowed'])
    const other = await t.login(srv.url, uniq('other'))
    assert.equal(await other.err('roomJoin', room), 'ChatServiceError: Action is not allowed')
    const allowed = await t.login(srv.url, 'allowed')
    assert.equal(await allowed.ok('roomJoin', room), 1)
    assert.deepEqual(await api(srv.url, 'hasRoomAccess', [room, other.userName]).then(r => r.json), { result: false })
    assert.deepEqual(await api(srv.url, 'roomHasInList', [room, 'userlist', 'allowed']).then(r => r.json), { result: true })
  })

  it('execUserCommand roomMessage reaches a connected client; result is the list of results', async () => {
    const room = uniq('room')
    await api(srv.url, 'addRoom', [room])
    const u1 = uniq('u1')
    const c = await t.login(srv.url, u1)
    await c.ok('roomJoin', room)
    const r = await api(srv.url, 'execUserCommand', [{ userName: u1 }, 'roomMessage', room, { textMessage: 'from api' }])
    assert.equal(r.status, 200, r.text)
    assert.deepEqual(r.json, { result: [1] })
    const [rn, msg] = await c.next('roomMessage')
    assert.equal(rn, room)
    assert.equal(msg.textMessage, 'from api')
    assert.equal(msg.author, u1)
    assert.equal(msg.id, 1)
    // a user name string as context
    const r2 = await api(srv.url, 'execUserCommand', [u1, 'roomMessage', room, { textMessage: 'again' }])
    assert.deepEqual(r2.json, { result: [2] })
    assert.equal((await c.next('roomMessage'))[1].id, 2)
    // anonymous bypass context: no author
    const r3 = await api(srv.url, 'execUserCommand', [true, 'roomMessage', room, { textMessage: 'anon' }])
    assert.deepEqual(r3.json, { result: [3] })
    const [, anon] = await c.next('roomMessage')
    assert.equal(anon.author, undefined)
    assert.deepEqual(Object.keys(anon), ['textMessage', 'timestamp', 'id'])
    // systemMessage without id reaches all the user's sockets
    const r4 = await api(srv.url, 'execUserCommand', [u1, 'systemMessage', { hello: 'all' }])
    assert.deepEqual(r4.json, { result: [null] })
    assert.deepEqual(await c.next('systemMessage'), [{ hello: 'all' }])
  })

  it('execUserCommand errors map to status codes', async () => {
    const room = uniq('room')
    await api(srv.url, 'addRoom', [room])
    const u = uniq('u')
    await t.login(srv.url, u)
    assertError(await api(srv.url, 'execUserCommand', [uniq('ghost'), 'roomJoin', room]), 422, 'noUser')
    assertError(await api(srv.url, 'execUserCommand', [u, 'roomJoin', room]), 422, 'noSocket', ['roomJoin'], 'Command roomJoin requires a valid socket')
    assertError(await api(srv.url, 'execUserCommand', [u, 'noSuchCommand']), 400, 'noCommand', ['noSuchCommand'], 'No such command noSuchCommand')
    assertError(await api(srv.url, 'execUserCommand', [u, 'roomMessage', room]), 400, 'wrongArgumentsCount', [2, 1], 'Expected 2 arguments, got 1')
    assertError(await api(srv.url, 'execUserCommand', [u, 'roomMessage', room, { textMessage: 1 }]), 400, 'badArgument', [1, { textMessage: 1 }], 'Bad argument at position 1, value {"textMessage":1}')
    assertError(await api(srv.url, 'execUserCommand', [u, 'roomMessage', room, { textMessage: 'x' }]), 422, 'notJoined', [room], `Not joined to room ${room}`)
    assertError(await api(srv.url, 'execUserCommand', [u, 'roomGetAccessList', uniq('nor'), 'whitelist']), 422, 'noRoom')
    const ghostSocket = '/chat-service#AAAAAAAAAAAAAAAA'
    assertError(await api(srv.url, 'execUserCommand', [{ userName: u, id: ghostSocket }, 'roomJoin', room]), 422,
      'invalidSocket', [ghostSocket], `Socket ${ghostSocket} is not connected`)
  })

  it('users: addUser / hasUser / deleteUser, userExists 409, userOnline 422', async () => {
    const name = uniq('user')
    assert.deepEqual((await api(srv.url, 'hasUser', [name])).json, { result: false })
    assert.deepEqual((await api(srv.url, 'addUser', [name, { blacklist: ['x'] }])).json, { result: null })
    assert.deepEqual((await api(srv.url, 'hasUser', [name])).json, { result: true })
    assert.deepEqual((await api(srv.url, 'userHasInList', [name, 'blacklist', 'x'])).json, { result: true })
    assertError(await api(srv.url, 'addUser', [name]), 409, 'userExists', [name], `User ${name} already exists`)
    const c = await t.login(srv.url, name)
    assert.deepEqual(await c.ok('directGetAccessList', 'blacklist'), ['x'])
    assertError(await api(srv.url, 'deleteUser', [name]), 422, 'userOnline', [name], `User ${name} is online`)
    assertError(await api(srv.url, 'deleteUser', [uniq('nouser')]), 422, 'noUser')
    assertError(await api(srv.url, 'userHasInList', [name, 'nolist', 'x']), 400, 'noList', ['nolist'])
  })

  it('disconnectUserSockets disconnects every socket of the user', async () => {
    const name = uniq('dis')
    const a = await t.login(srv.url, name)
    const b = await t.login(srv.url, name)
    const r = await api(srv.url, 'disconnectUserSockets', [name])
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, { result: null })
    assert.deepEqual(await a.next('disconnect'), ['io server disconnect'])
    assert.deepEqual(await b.next('disconnect'), ['io server disconnect'])
  })

  it('room settings through the API', async () => {
    const room = uniq('room')
    await api(srv.url, 'addRoom', [room])
    const owner = uniq('own')
    assert.deepEqual((await api(srv.url, 'changeRoomOwner', [room, owner])).json, { result: null })
    assert.deepEqual((await api(srv.url, 'changeAccessListsUpdates', [room, true])).json, { result: null })
    assert.deepEqual((await api(srv.url, 'changeUserlistUpdates', [room, false])).json, { result: null })
    assert.deepEqual((await api(srv.url, 'changeRoomHistoryMaxSize', [room, 1])).json, { result: null })
    const o = await t.login(srv.url, owner)
    assert.equal(await o.ok('roomGetOwner', room), owner)
    assert.deepEqual(await o.ok('roomNotificationsInfo', room), { enableUserlistUpdates: false, enableAccessListsUpdates: true })
    assert.equal((await o.ok('roomHistoryInfo', room)).historyMaxSize, 1)
    assertError(await api(srv.url, 'changeRoomOwner', [uniq('nor'), owner]), 422, 'noRoom')
  })

  it('owner-less rooms and access checks on unknown names (15.24, 15.25)', async () => {
    const room = uniq('room')
    await api(srv.url, 'addRoom', [room])
    const c = await t.login(srv.url, uniq('u'))
    await c.ok('roomJoin', room)
    assert.deepEqual(await c.call('roomGetOwner', room), [null, null])
    assert.deepEqual((await api(srv.url, 'hasRoomAccess', [uniq('nor'), c.userName])).json, { result: false })
    assert.deepEqual((await api(srv.url, 'hasRoomAccess', [room, c.userName])).json, { result: true })
    assert.deepEqual((await api(srv.url, 'hasDirectAccess', [uniq('ghost'), c.userName])).json, { result: false })
    const d = await t.login(srv.url, uniq('d'))
    assert.deepEqual((await api(srv.url, 'hasDirectAccess', [d.userName, c.userName])).json, { result: true })
    assert.deepEqual((await api(srv.url, 'hasDirectAccess', [d.userName, d.userName])).json, { result: false })
    // deleteRoom through the API: members get roomAccessRemoved
    assert.deepEqual((await api(srv.url, 'deleteRoom', [room])).json, { result: null })
    assert.deepEqual(await c.next('roomAccessRemoved'), [room])
  })

  it('getInstanceHeartbeat: own heartbeat without an argument, null for unknown ids', async () => {
    const own = await api(srv.url, 'getInstanceHeartbeat', [])
    assert.equal(own.status, 200)
    assert.equal(typeof own.json.result, 'number')
    assert.ok(Math.abs(own.json.result - Date.now()) < 60000)
    assert.deepEqual((await api(srv.url, 'getInstanceHeartbeat', ['no-such-instance'])).json, { result: null })
  })
})

// interface.md 4.1: push and presence for backends. Every client
// generation receives what is pushed; on one instance here, across two in
// cluster.test.mjs.
describe('admin API: push and presence (interface.md 4.1)', { skip: ADMIN_SKIP }, () => {
  const srv = useServer(before, after, ['--admin-token', TOKEN, '--enable-userlist-updates'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  const NOTIFICATIONS = [
    'loginConfirmed', 'loginRejected', 'socketConnectEcho', 'socketDisconnectEcho',
    'roomJoinedEcho', 'roomLeftEcho', 'roomUserJoined', 'roomUserLeft', 'roomMessage',
    'roomAccessRemoved', 'roomAccessListAdded', 'roomAccessListRemoved', 'roomModeChanged',
    'directMessage', 'directMessageEcho', 'systemMessage'
  ]
  const ok = async (method, args) => {
    const r = await api(srv.url, method, args)
    assert.equal(r.status, 200, `${method}${JSON.stringify(args)}: ${r.text}`)
    assert.deepEqual(Object.keys(r.json), ['result'])
    return r.json.result
  }
  /** A user with a 2.x and a 4.x socket, both watching `event`. */
  const twoSockets = async (name, event) => {
    const v2 = (await t.login(srv.url, name, { version: 2 })).watch(event)
    const v4 = (await t.login(srv.url, name, { version: 4 })).watch(event)
    await v2.next('socketConnectEcho')
    return [v2, v4]
  }

  it('isUserOnline: false for unknown and offline users, true while a socket is connected, false again after the last one left', async () => {
    assert.equal(await ok('isUserOnline', [uniq('ghost')]), false)
    const offline = uniq('off')
    await ok('addUser', [offline])
    assert.equal(await ok('isUserOnline', [offline]), false)
    const room = uniq('room')
    await ok('addRoom', [room])
    const name = uniq('on')
    const [a, b] = await twoSockets(name, 'unused')
    await a.ok('roomJoin', room)
    const observer = await t.login(srv.url, uniq('obs'))
    await observer.ok('roomJoin', room)
    assert.equal(await ok('isUserOnline', [name]), true)
    b.close()
    await a.next('socketDisconnectEcho')
    assert.equal(await ok('isUserOnline', [name]), true)
    a.close()
    // sent once the state no longer has the user's last socket
    assert.deepEqual(await observer.next('roomUserLeft'), [room, name])
    assert.equal(await ok('isUserOnline', [name]), false)
  })

  it('emitToUser: every socket of the user gets event(...data), nobody else; the result is the number of sockets (0 when offline)', async () => {
    const name = uniq('pushed')
    const [v2, v4] = await twoSockets(name, 'news')
    const other = (await t.login(srv.url, uniq('other'))).watch('news')
    const data = ['hello', { nested: [1, null, true] }, 3.5, null]
    assert.equal(await ok('emitToUser', [name, 'news', ...data]), 2)
    assert.deepEqual(await v2.next('news'), data)
    assert.deepEqual(await v4.next('news'), data)
    v2.watch('bare')
    v4.watch('bare')
    assert.equal(await ok('emitToUser', [name, 'bare']), 2)
    assert.deepEqual(await v2.next('bare'), [])
    assert.deepEqual(await v4.next('bare'), [])
    await other.noEvent('news')
    assert.equal(await ok('emitToUser', [uniq('ghost'), 'news', 1]), 0)
    const offline = uniq('off')
    await ok('addUser', [offline])
    assert.equal(await ok('emitToUser', [offline, 'news', 1]), 0)
  })

  it('emitToSocket: only that socket gets it (true); false for a socket that is gone or never was', async () => {
    const name = uniq('sock')
    const [v2, v4] = await twoSockets(name, 'ping!')
    for (const [to, notTo] of [[v2, v4], [v4, v2]]) {
      assert.equal(await ok('emitToSocket', [to.id, 'ping!', { to: to.id }]), true)
      assert.deepEqual(await to.next('ping!'), [{ to: to.id }])
      await notTo.noEvent('ping!', 100)
    }
    const goneId = v2.id
    v2.close()
    await v4.next('socketDisconnectEcho')
    assert.equal(await ok('emitToSocket', [goneId, 'ping!']), false)
    assert.equal(await ok('emitToSocket', ['/chat-service#AAAAAAAAAAAAAAAA', 'ping!']), false)
    assert.equal(await ok('emitToSocket', ['no such socket', 'ping!']), false)
    await v4.noEvent('ping!')
  })

  it('emitToRoom: every socket joined to the room, nobody else; noRoom (422) for a missing room', async () => {
    const room = uniq('room')
    await ok('addRoom', [room])
    const [v2, v4] = [
      (await t.login(srv.url, uniq('m2'), { version: 2 })).watch('alert'),
      (await t.login(srv.url, uniq('m4'), { version: 4 })).watch('alert')
    ]
    await v2.ok('roomJoin', room)
    await v4.ok('roomJoin', room)
    const outsider = (await t.login(srv.url, uniq('out'))).watch('alert')
    assert.equal(await ok('emitToRoom', [room, 'alert', room, 'closing soon']), null)
    assert.deepEqual(await v2.next('alert'), [room, 'closing soon'])
    assert.deepEqual(await v4.next('alert'), [room, 'closing soon'])
    const nor = uniq('nor')
    assertError(await api(srv.url, 'emitToRoom', [nor, 'alert']), 422, 'noRoom', [nor], `No such room ${nor}`)
    await outsider.noEvent('alert')
  })

  it('emitToAll: every connected socket, joined anywhere or not, of either client generation', async () => {
    const clients = [
      (await t.login(srv.url, uniq('all2'), { version: 2 })).watch('maintenance'),
      (await t.login(srv.url, uniq('all4'), { version: 4 })).watch('maintenance')
    ]
    assert.equal(await ok('emitToAll', ['maintenance', { at: '03:00' }]), null)
    for (const c of clients) assert.deepEqual(await c.next('maintenance'), [{ at: '03:00' }])
  })

  it('refuses the service\'s notification names, socket.io\'s own events and an empty name with 400 badArgument; nothing is sent', async () => {
    const room = uniq('room')
    await ok('addRoom', [room])
    const name = uniq('forge')
    const c = await t.login(srv.url, name)
    await c.ok('roomJoin', room)
    for (const event of [...NOTIFICATIONS, '', 'connect', 'disconnect', 'connect_error', 'error']) {
      const message = `Bad argument at position 1, value ${JSON.stringify(event)}`
      assertError(await api(srv.url, 'emitToUser', [name, event, 'x']), 400, 'badArgument', [1, event], message)
      assertError(await api(srv.url, 'emitToSocket', [c.id, event, 'x']), 400, 'badArgument', [1, event], message)
      assertError(await api(srv.url, 'emitToRoom', [room, event, 'x']), 400, 'badArgument', [1, event], message)
      assertError(await api(srv.url, 'emitToAll', [event, 'x']), 400, 'badArgument', [0, event])
    }
    // nothing forged reached the client: its next roomMessage is a real one
    await c.ok('roomMessage', room, { textMessage: 'real' })
    const [, msg] = await c.next('roomMessage')
    assert.equal(msg.textMessage, 'real')
    assert.deepEqual(c.pending('loginConfirmed'), [])
    assert.deepEqual(c.pending('systemMessage'), [])
    assert.ok(c.connectedNow)
  })

  it('bad arguments: 400 badArgument at the position, never a 500', async () => {
    const cases = [
      ['isUserOnline', [], [0, null]],
      ['isUserOnline', [42], [0, 42]],
      ['emitToUser', [], [0, null]],
      ['emitToUser', ['u'], [1, null]],
      ['emitToUser', ['u', 7], [1, 7]],
      ['emitToUser', [['u'], 'news'], [0, ['u']]],
      ['emitToSocket', [null, 'news'], [0, null]],
      ['emitToSocket', ['id', { event: 'news' }], [1, { event: 'news' }]],
      ['emitToRoom', [true, 'news'], [0, true]],
      ['emitToRoom', ['r'], [1, null]],
      ['emitToAll', [], [0, null]],
      ['emitToAll', [false], [0, false]]
    ]
    for (const [method, args, errorArgs] of cases) {
      assertError(await api(srv.url, method, args), 400, 'badArgument', errorArgs)
    }
    for (const method of ['isUserOnline', 'emitToUser', 'emitToSocket', 'emitToRoom', 'emitToAll']) {
      assertError(await api(srv.url, method, { userName: 'u' }), 400, 'badArgument')
      assertError(await api(srv.url, method, 'not json', { raw: true }), 400, 'badArgument')
      assert.equal((await api(srv.url, method, ['u'], { token: 'wrong' })).status, 401)
    }
  })
})

describe('admin API disabled (no --admin-token)', { skip: ADMIN_SKIP }, () => {
  const srv = useServer(before, after)

  it('answers 404, with or without a token', async () => {
    assert.equal((await api(srv.url, 'hasRoom', ['x'], { token: null })).status, 404)
    assert.equal((await api(srv.url, 'addRoom', ['x'])).status, 404)
  })
})

describe('GET /health', { skip: ADMIN_SKIP }, () => {
  // "state" is the suite's state (CHAT_SERVICE_STATE): memory or redis
  it(`200 {"status":"ok","instanceId":…,"state":"${STATE}"}`, async () => {
    const s = await startServer(['--instance-id', 'test-instance-1'])
    try {
      const res = await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(5000) })
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.deepEqual(body, { status: 'ok', instanceId: 'test-instance-1', state: STATE })
    } finally {
      await s.stop()
    }
  })

  it('a random instance id by default', async () => {
    const s = await startServer()
    try {
      const body = await (await fetch(`${s.url}/health`, { signal: AbortSignal.timeout(5000) })).json()
      assert.equal(body.status, 'ok')
      assert.equal(body.state, STATE)
      assert.equal(typeof body.instanceId, 'string')
      assert.ok(body.instanceId.length > 0)
    } finally {
      await s.stop()
    }
  })
})

describe('other HTTP endpoints', () => {
  const srv = useServer(before, after)

  it('serves the socket.io client bundle at /socket.io/socket.io.js (protocol.md 1.1)', async () => {
    const res = await fetch(`${srv.url}/socket.io/socket.io.js`, { signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') || '', /javascript/)
    const body = await res.text()
    assert.ok(body.length > 1000, 'a real bundle')
  })

  it('GET /metrics: Prometheus text', { skip: OURS_ONLY }, async () => {
    const res = await fetch(`${srv.url}/metrics`, { signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') || '', /^text\/plain/)
    assert.match(await res.text(), /^# (HELP|TYPE) /m)
  })

  it('GET / serves the demo page', { skip: OURS_ONLY }, async () => {
    const res = await fetch(`${srv.url}/`, { signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') || '', /text\/html/)
    assert.match(await res.text(), /socket\.io/i)
  })
})

describe('--no-static', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--no-static'])

  it('GET / is 404', async () => {
    const res = await fetch(`${srv.url}/`, { signal: AbortSignal.timeout(5000) })
    assert.equal(res.status, 404)
    await res.text()
  })
})

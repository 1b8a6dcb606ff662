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

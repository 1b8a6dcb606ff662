// Login (protocol.md 1.2, 1.3, 6; interface.md 2 query auth).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, useServer, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq, V4_ONLY } from '../lib/client.mjs'

const SOCKET_ID = /^\/chat-service#[A-Za-z0-9_-]+$/

describe('login with query auth', () => {
  const srv = useServer(before, after)
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('confirms the login with the user name and authData {id}', async () => {
    const user = uniq('u')
    const c = t.connect(srv.url, user)
    const { userName, authData } = await c.login()
    assert.equal(userName, user)
    assert.deepEqual(Object.keys(authData), ['id'])
    // the service's socket id is the one the client knows its socket by
    // (v2: `/chat-service#<engine id>`, v4: the CONNECT reply's sid), and
    // listOwnSockets agrees
    assert.equal(authData.id, c.socket.id)
    if (c.version === 2) assert.match(authData.id, SOCKET_ID)
    const sockets = await c.ok('listOwnSockets')
    assert.deepEqual(sockets, { [authData.id]: [] })
  })

  for (const version of [2, 4]) {
    it(`socket.io-client ${version}: echoes and listOwnSockets name sockets by the client's own socket.id`, async () => {
      const user = uniq('ids')
      const a = await t.login(srv.url, user, { version })
      const b = await t.login(srv.url, user, { version: version === 2 ? 4 : 2 })
      assert.deepEqual(await a.next('socketConnectEcho'), [b.socket.id, 2])
      const ids = await a.ok('listOwnSockets')
      assert.deepEqual(Object.keys(ids).sort(), [a.socket.id, b.socket.id].sort())
      const bId = b.socket.id
      b.close()
      assert.deepEqual(await a.next('socketDisconnectEcho'), [bId, 1])
    })
  }

  it('accepts any name without control chars, ":", "{", "}"', async () => {
    for (const name of [uniq('with space '), uniq('ünïcødé✓ '), uniq('#/slash/'), uniq('dots.and-dashes_')]) {
      const c = t.connect(srv.url, name)
      const { userName } = await c.login()
      assert.equal(userName, name)
    }
  })

  it('rejects a missing user with noLogin, then disconnects the socket', async () => {
    const c = t.connect(srv.url, null)
    const error = await c.loginRejected()
    assert.equal(error, 'ChatServiceError: No login provided')
    const [reason] = await c.next('disconnect')
    assert.equal(reason, 'io server disconnect')
    await c.noEvent('loginConfirmed', 100)
  })

  it('rejects an invalid name with invalidName, then disconnects the socket', async () => {
    for (const bad of ['a:b', 'a{b', 'a}b', 'tab\there', 'del\u007f', 'nul\u0000x']) {
      const c = t.connect(srv.url, bad)
      const error = await c.loginRejected()
      assert.equal(error, `ChatServiceError: String ${bad} contains invalid characters`)
      const [reason] = await c.next('disconnect')
      assert.equal(reason, 'io server disconnect')
    }
  })

  it('lets one user log in many times; others get socketConnectEcho / socketDisconnectEcho', async () => {
    const user = uniq('multi')
    const a = await t.login(srv.url, user)
    const b = await t.login(srv.url, user)
    assert.notEqual(a.id, b.id)
    assert.deepEqual(await a.next('socketConnectEcho'), [b.id, 2])
    const c = await t.login(srv.url, user)
    assert.deepEqual(await a.next('socketConnectEcho'), [c.id, 3])
    assert.deepEqual(await b.next('socketConnectEcho'), [c.id, 3])
    // the new socket itself gets no echo of its own login
    await c.noEvent('socketConnectEcho', 100)
    assert.deepEqual(await a.ok('listOwnSockets'), { [a.id]: [], [b.id]: [], [c.id]: [] })
    b.close()
    assert.deepEqual(await a.next('socketDisconnectEcho'), [b.id, 2])
    assert.deepEqual(await c.next('socketDisconnectEcho'), [b.id, 2])
    assert.deepEqual(await a.ok('listOwnSockets'), { [a.id]: [], [c.id]: [] })
  })

  it('keeps users apart: another user gets no echoes', async () => {
    const a = await t.login(srv.url, uniq('ua'))
    await t.login(srv.url, uniq('ub'))
    await a.noEvent('socketConnectEcho', 150)
  })

  it('user state survives reconnecting (the record is kept)', async () => {
    const user = uniq('keep')
    const a = await t.login(srv.url, user)
    await a.ok('directAddToList', 'blacklist', ['someone'])
    a.close()
    await a.next('disconnect')
    const b = await t.login(srv.url, user)
    assert.deepEqual(await b.ok('directGetAccessList', 'blacklist'), ['someone'])
  })
})

describe('login with --auth-query-param', () => {
  const srv = useServer(before, after, ['--auth-query-param', 'name'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('reads the user from the configured query parameter', async () => {
    const user = uniq('qp')
    const c = t.connect(srv.url, null, { query: { name: user } })
    const { userName } = await c.login()
    assert.equal(userName, user)
  })

  it('ignores the default "user" parameter then', async () => {
    const c = t.connect(srv.url, uniq('ignored'))
    assert.equal(await c.loginRejected(), 'ChatServiceError: No login provided')
  })
})

// interface.md 1: without --auth-query-param, the original quickstart's
// client (`query: 'userName=user&token=token'`) logs in as written.
describe('login with the original quickstart\'s userName parameter (no --auth-query-param)', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after)
  const t = clientSet()
  afterEach(() => t.closeAll())

  for (const version of [2, 4]) {
    it(`socket.io-client ${version}: userName=…&token=… gets loginConfirmed`, async () => {
      const user = uniq('quick')
      const c = t.connect(srv.url, null, { version, query: { userName: user, token: 'token' } })
      const { userName, authData } = await c.login()
      assert.equal(userName, user)
      assert.deepEqual(authData, { id: c.socket.id })
    })
  }

  it('user wins over userName when a client sends both', async () => {
    const user = uniq('first')
    const c = t.connect(srv.url, user, { query: { userName: uniq('second') } })
    assert.equal((await c.login()).userName, user)
  })
})

describe('login with an explicit --auth-query-param user', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--auth-query-param', 'user'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  for (const version of [2, 4]) {
    it(`socket.io-client ${version}: userName is not accepted then, user still is`, async () => {
      const c = t.connect(srv.url, null, { version, query: { userName: uniq('quick'), token: 'token' } })
      assert.equal(await c.loginRejected(), 'ChatServiceError: No login provided')
      const user = uniq('named')
      assert.equal((await t.connect(srv.url, user, { version }).login()).userName, user)
    })
  }
})

describe('login with --use-raw-error-objects', () => {
  const srv = useServer(before, after, ['--use-raw-error-objects'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('sends loginRejected with a raw error object', async () => {
    const c = t.connect(srv.url, null)
    assert.deepEqual(await c.loginRejected(), { name: 'ChatServiceError', code: 'noLogin', args: [] })
    const c2 = t.connect(srv.url, 'x:y')
    const err = await c2.loginRejected()
    assert.deepEqual(err, { name: 'ChatServiceError', code: 'invalidName', args: ['x:y'] })
    assert.deepEqual(Object.keys(err), ['name', 'code', 'args'])
  })
})

describe('login through the socket.io v5 auth payload (client 4.x)', () => {
  it('takes the user name from auth.user', { skip: V4_ONLY }, async () => {
    const s = await startServer()
    const t = clientSet()
    try {
      const user = uniq('auth')
      const c = t.connect(s.url, null, { auth: { user } })
      const { userName, authData } = await c.login()
      assert.equal(userName, user)
      assert.equal(authData.id, c.socket.id)
    } finally {
      t.closeAll()
      await s.stop()
    }
  })
})

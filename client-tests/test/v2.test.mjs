// socket.io-client 2.x (Engine.IO 3) compatibility (protocol.md 1.1):
// the subset login/join/message/history/errors over polling+upgrade,
// websocket only and polling only; query in the namespace CONNECT packet;
// binary packets; mixed v2/v4 clients (our binary only).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq, V4_ONLY } from '../lib/client.mjs'

const SOCKET_ID = /^\/chat-service#[A-Za-z0-9_-]+$/
const FORCED_V4 = process.env.CLIENT_VERSION === '4' ? 'CLIENT_VERSION=4 forces v4 clients' : false

function waitUpgrade (c, timeout = 5000) {
  const engine = c.socket.io.engine
  if (engine.transport && engine.transport.name === 'websocket') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no upgrade to websocket within ${timeout} ms`)), timeout)
    engine.once('upgrade', () => { clearTimeout(timer); resolve() })
  })
}

const transportsVariants = [
  ['default transports (polling, then upgrade)', undefined],
  ['websocket only', ['websocket']],
  ['polling only', ['polling']]
]

describe('socket.io-client 2.x', { skip: FORCED_V4 }, () => {
  const srv = useServer(before, after,
    ['--enable-rooms-management', '--enable-userlist-updates', '--enable-direct-messages'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  for (const [label, transports] of transportsVariants) {
    it(`${label}: login, join, message, history, errors, echoes`, async () => {
      const opts = { version: 2, transports }
      const user = uniq('v2u')
      const a = t.connect(srv.url, user, opts)
      const { userName, authData } = await a.login()
      assert.equal(userName, user)
      assert.match(authData.id, SOCKET_ID)
      if (transports === undefined) await waitUpgrade(a)
      if (transports) assert.equal(a.transportName, transports[0])
      const b = await t.login(srv.url, user, opts)
      assert.deepEqual(await a.next('socketConnectEcho'), [b.id, 2])
      const room = uniq('room')
      assert.deepEqual(await a.call('roomCreate', room, false), [null, null])
      assert.deepEqual(await a.call('roomJoin', room), [null, 1])
      assert.deepEqual(await a.next('roomUserJoined'), [room, user])
      assert.deepEqual(await b.next('roomJoinedEcho'), [room, a.id, 1])
      assert.deepEqual(await a.call('roomJoin', 'nor'), ['ChatServiceError: No such room nor', null])
      assert.deepEqual(await a.call('roomCreate', room, 'x'), ['ChatServiceError: Bad argument at position 1, value "x"', null])
      assert.deepEqual(await a.call('roomCreate'), ['ChatServiceError: Expected 2 arguments, got 0', null])
      const other = await t.login(srv.url, uniq('v2o'), opts)
      assert.deepEqual(await other.call('roomJoin', room), [null, 1])
      assert.deepEqual(await other.call('roomMessage', room, { textMessage: 'hello v2' }), [null, 1])
      const [r, msg] = await a.next('roomMessage')
      assert.equal(r, room)
      assert.deepEqual(Object.keys(msg), ['textMessage', 'author', 'timestamp', 'id'])
      assert.equal(msg.author, other.userName)
      assert.deepEqual(await a.call('roomRecentHistory', room), [null, [msg]])
      assert.deepEqual(await a.call('roomHistoryGet', room, 0, 10), [null, [msg]])
      const dm = await other.ok('directMessage', user, { textMessage: 'psst' })
      assert.deepEqual(await a.next('directMessage'), [dm])
      assert.deepEqual(await b.next('directMessage'), [dm])
      b.close()
      assert.deepEqual(await a.next('socketDisconnectEcho'), [b.id, 1])
      await a.noAck(200, 'unknownCommand')
    })
  }

  it('query given in the namespace URL (io(url + "/chat-service?user=x"))', async () => {
    const user = uniq('inurl')
    const c = t.connect(srv.url, null, { version: 2, namespace: `/chat-service?user=${encodeURIComponent(user)}` })
    const { userName } = await c.login()
    assert.equal(userName, user)
  })

  it('noLogin and invalid names are rejected, then "io server disconnect"', async () => {
    const c = t.connect(srv.url, null, { version: 2 })
    assert.equal(await c.loginRejected(), 'ChatServiceError: No login provided')
    assert.deepEqual(await c.next('disconnect'), ['io server disconnect'])
    const d = t.connect(srv.url, 'a:b', { version: 2, transports: ['websocket'] })
    assert.equal(await d.loginRejected(), 'ChatServiceError: String a:b contains invalid characters')
    assert.deepEqual(await d.next('disconnect'), ['io server disconnect'])
  })
})

describe('binary values (socket.io binary packets)', () => {
  const srv = useServer(before, after)
  const t = clientSet()
  afterEach(() => t.closeAll())

  const toBuf = v => Buffer.isBuffer(v) ? v : Buffer.from(v)

  for (const [label, transports] of [['websocket', ['websocket']], ['polling', ['polling']]]) {
    it(`systemMessage passes binary data through (${label})`, async () => {
      const user = uniq('bin')
      const a = await t.login(srv.url, user, { transports })
      const b = await t.login(srv.url, user, { transports })
      const data = Buffer.from([0, 1, 2, 253, 254, 255])
      assert.deepEqual(await a.call('systemMessage', data), [null, null])
      const [got] = await b.next('systemMessage')
      assert.ok(Buffer.isBuffer(got) || got instanceof ArrayBuffer, `got ${typeof got}`)
      assert.ok(toBuf(got).equals(data))
      // nested binary inside an object
      await a.ok('systemMessage', { file: data, name: 'f' })
      const [obj] = await b.next('systemMessage')
      assert.equal(obj.name, 'f')
      assert.ok(toBuf(obj.file).equals(data))
    })
  }

  it('a binary argument in an error renders as {"type":"Buffer","data":[..]}', async () => {
    const a = await t.login(srv.url, uniq('bin'))
    assert.deepEqual(await a.call('roomJoin', Buffer.from([1, 2, 3])),
      ['ChatServiceError: Bad argument at position 0, value {"type":"Buffer","data":[1,2,3]}', null])
  })
})

describe('mixed socket.io-client 2.x and 4.x sockets', { skip: V4_ONLY || OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--enable-rooms-management'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('one user on a v2 and a v4 socket: echoes and room messages cross versions', async () => {
    const user = uniq('mix')
    const a2 = await t.login(srv.url, user, { version: 2 })
    const a4 = await t.login(srv.url, user, { version: 4 })
    assert.deepEqual(await a2.next('socketConnectEcho'), [a4.id, 2])
    const room = uniq('room')
    await a4.ok('roomCreate', room, false)
    await a2.ok('roomJoin', room)
    assert.deepEqual(await a4.next('roomJoinedEcho'), [room, a2.id, 1])
    await a4.ok('roomJoin', room)
    assert.equal(await a4.ok('roomMessage', room, { textMessage: 'x' }), 1)
    const [, m2] = await a2.next('roomMessage')
    const [, m4] = await a4.next('roomMessage')
    assert.deepEqual(m2, m4)
    await a2.ok('systemMessage', Buffer.from([9, 8]))
    const [bin] = await a4.next('systemMessage')
    assert.ok(Buffer.from(bin).equals(Buffer.from([9, 8])))
  })
})

describe('--max-payload-bytes', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--max-payload-bytes', '2000'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('a too large packet closes that connection only', async () => {
    const user = uniq('big')
    const a = await t.login(srv.url, user, { transports: ['websocket'] })
    const b = await t.login(srv.url, user, { transports: ['websocket'] })
    a.send('systemMessage', 'x'.repeat(10000))
    await a.next('disconnect')
    assert.deepEqual(await b.next('socketDisconnectEcho'), [a.id, 1])
    await b.noEvent('systemMessage', 0)
    assert.deepEqual(await b.call('listOwnSockets'), [null, { [b.id]: [] }])
  })
})

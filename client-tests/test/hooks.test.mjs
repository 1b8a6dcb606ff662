// The hooks over HTTP (interface.md 7) against a real HTTP backend process
// (lib/hook-backend.mjs): every hook kind and answer shape, what the
// backend receives, failures (fail closed before, open after), a backend
// that is down or slow, the order of the calls. Only our binary has them.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, expectExit, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq, V4_ONLY } from '../lib/client.mjs'
import { startBackend, waitForCall } from '../lib/hooks.mjs'

const HOOKS = [
  'connect', 'disconnect',
  'roomJoin:before', 'roomJoin:after',
  'roomMessage:before', 'roomMessage:after',
  'roomGetOwner:before', 'roomGetOwner:after'
].join(',')
const TIMEOUT_MS = 1500

/** One backend and one server calling it, for a `describe`. */
function useHookedServer (flags = []) {
  const env = {}
  before(async () => {
    env.backend = await startBackend()
    env.server = await startServer(['--hook-url', env.backend.hookUrl, ...flags])
    env.url = env.server.url
  })
  after(async () => {
    await env.server?.stop()
    await env.backend?.stop()
  })
  return env
}

/** The calls of `hook` by `user` the backend received. */
async function callsOf (backend, hook, user) {
  return (await backend.received()).filter(c => c.body.hook === hook &&
    (user === undefined || c.body.user === user || (c.body.query && c.body.query.user === user)))
}

describe('hooks over HTTP', { skip: OURS_ONLY }, () => {
  const env = useHookedServer(['--hooks', HOOKS, '--hook-timeout', String(TIMEOUT_MS),
    '--hook-token', 'sesame', '--enable-rooms-management'])
  const t = clientSet()
  afterEach(async () => {
    t.closeAll()
    await env.backend.rules([])
  })

  /** A logged-in user who created and joined a room of their own. */
  async function member (prefix = 'u') {
    const user = uniq(prefix)
    const room = uniq('r')
    const c = await t.login(env.url, user)
    await c.ok('roomCreate', room, false)
    await c.ok('roomJoin', room)
    return { c, user, room }
  }

  it('connect: the backend names the user; its auth comes back in loginConfirmed with id', async () => {
    const user = uniq('c')
    await env.backend.rules([{ hook: 'connect', user, answer: { json: { user: `${user}-ok`, auth: { role: 'admin' } } } }])
    const c = t.connect(env.url, user, { query: { extra: 'a b' } })
    const { userName, authData } = await c.login()
    assert.equal(userName, `${user}-ok`)
    assert.deepEqual(authData, { role: 'admin', id: c.socket.id })
    const [call] = await callsOf(env.backend, 'connect', user)
    assert.deepEqual(Object.keys(call.body), ['hook', 'instanceId', 'id', 'query', 'headers', 'auth'])
    assert.equal(call.body.id, c.socket.id)
    assert.equal(typeof call.body.instanceId, 'string')
    assert.equal(call.body.query.user, user)
    assert.equal(call.body.query.extra, 'a b')
    assert.equal(call.body.headers.host, env.url.replace('http://', ''))
    assert.ok(Object.keys(call.body.headers).every(h => h === h.toLowerCase()))
    // socket.io-client 4 sends an empty auth payload, 2 none.
    assert.deepEqual(call.body.auth, c.version === 2 ? null : {})
    assert.equal(call.authorization, 'Bearer sesame')
  })

  it('connect: the v4 auth payload reaches the backend', { skip: V4_ONLY }, async () => {
    const user = uniq('c')
    // No query user: the backend answers from the payload.
    await env.backend.rules([{ hook: 'connect', answer: { json: { user } } }])
    const c = t.connect(env.url, null, { auth: { token: 'abc', user } })
    const { userName } = await c.login()
    assert.equal(userName, user)
    const calls = (await env.backend.received()).filter(x => x.body.hook === 'connect' && x.body.id === c.socket.id)
    assert.deepEqual(calls[0].body.auth, { token: 'abc', user })
  })

  it('connect: {error} rejects the login with the string as it is, or a protocol error', async () => {
    const a = uniq('c')
    const b = uniq('c')
    const none = uniq('c')
    await env.backend.rules([
      { hook: 'connect', user: a, answer: { json: { error: 'go away' } } },
      { hook: 'connect', user: b, answer: { json: { error: { code: 'notAllowed', args: [] } } } },
      { hook: 'connect', user: none, answer: { json: {} } }
    ])
    assert.equal(await t.connect(env.url, a).loginRejected(), 'go away')
    assert.equal(await t.connect(env.url, b).loginRejected(), 'ChatServiceError: Action is not allowed')
    assert.equal(await t.connect(env.url, none).loginRejected(), 'ChatServiceError: No login provided')
  })

  it('connect fails closed: a 500, a timeout, a non-object answer reject the login', async () => {
    const cases = [
      [{ status: 500, json: { user: 'x' } }, /^Error: hook connect: the backend answered 500/],
      [{ delay: TIMEOUT_MS + 1000, json: { user: 'x' } }, /^Error: hook connect: no answer within 1500 ms$/],
      [{ raw: '["alice"]' }, /^Error: hook connect: the answer is not a JSON object$/],
      [{ json: { user: 'x', auth: 'nope' } }, /^Error: hook connect: bad answer: auth not an object$/]
    ]
    for (const [answer, expected] of cases) {
      const user = uniq('c')
      await env.backend.rules([{ hook: 'connect', user, answer }])
      assert.match(await t.connect(env.url, user).loginRejected(TIMEOUT_MS + 3000), expected)
    }
  })

  it('before {}: the command runs; the backend gets hook, instanceId, id, user, command, args, bypassPermissions', async () => {
    const { c, user, room } = await member()
    const id = await c.ok('roomMessage', room, { textMessage: 'hi' })
    assert.equal(id, 1)
    const [call] = await callsOf(env.backend, 'roomMessage:before', user)
    assert.deepEqual(call.body, {
      hook: 'roomMessage:before',
      instanceId: call.body.instanceId,
      id: c.socket.id,
      user,
      command: 'roomMessage',
      args: [room, { textMessage: 'hi' }],
      bypassPermissions: null
    })
    const [afterCall] = await callsOf(env.backend, 'roomMessage:after', user)
    assert.deepEqual(Object.keys(afterCall.body),
      ['hook', 'instanceId', 'id', 'user', 'command', 'args', 'bypassPermissions', 'result'])
    assert.deepEqual(afterCall.body.result, [1])
  })

  it('before {args}: the command runs with them, validated again', async () => {
    const { c, user, room } = await member()
    await env.backend.rules([{ hook: 'roomMessage:before', user, answer: { json: { args: [room, { textMessage: 'censored' }] } } }])
    await c.ok('roomMessage', room, { textMessage: 'rude' })
    const [, msg] = await c.next('roomMessage')
    assert.equal(msg.textMessage, 'censored')
    await env.backend.rules([{ hook: 'roomMessage:before', user, answer: { json: { args: [room, { nope: 1 }] } } }])
    assert.equal(await c.err('roomMessage', room, { textMessage: 'x' }),
      'ChatServiceError: Bad argument at position 1, value {"nope":1}')
  })

  it('before {result}: replies these values instead of running; the after-hook is not called', async () => {
    const { c, user, room } = await member()
    await env.backend.rules([{ hook: 'roomMessage:before', user, answer: { json: { result: ['a', 2] } } }])
    assert.deepEqual(await c.call('roomMessage', room, { textMessage: 'x' }), [null, 'a', 2])
    await c.noEvent('roomMessage', 200)
    assert.deepEqual(await callsOf(env.backend, 'roomMessage:after', user), [])
  })

  it('before {error}: a string as it is, or a protocol error code', async () => {
    const { c, user, room } = await member()
    await env.backend.rules([{ hook: 'roomMessage:before', user, answer: { json: { error: 'Muted for 5 minutes' } } }])
    assert.deepEqual(await c.call('roomMessage', room, { textMessage: 'x' }), ['Muted for 5 minutes', null])
    await env.backend.rules([{ hook: 'roomMessage:before', user, answer: { json: { error: { code: 'noRoom', args: ['elsewhere'] } } } }])
    assert.equal(await c.err('roomMessage', room, { textMessage: 'x' }), 'ChatServiceError: No such room elsewhere')
    await env.backend.rules([{ hook: 'roomMessage:before', user, answer: { json: { error: { code: 'muted', args: [5] } } } }])
    assert.equal(await c.err('roomMessage', room, { textMessage: 'x' }), 'ChatServiceError: muted')
    await c.noEvent('roomMessage', 100)
  })

  it('after: sees the error {code, args, message}; {result} and {error} replace the outcome', async () => {
    const { c, user, room } = await member()
    const missing = uniq('missing')
    assert.equal(await c.err('roomJoin', missing), `ChatServiceError: No such room ${missing}`)
    const [call] = (await callsOf(env.backend, 'roomJoin:after', user)).filter(x => x.body.args[0] === missing)
    assert.deepEqual(call.body.error, { code: 'noRoom', args: [missing], message: `No such room ${missing}` })
    assert.equal('result' in call.body, false)

    await env.backend.rules([{ hook: 'roomGetOwner:after', user, answer: { json: { result: ['someone else'] } } }])
    assert.equal(await c.ok('roomGetOwner', room), 'someone else')
    await env.backend.rules([{ hook: 'roomGetOwner:after', user, answer: { json: { error: { code: 'notAllowed' } } } }])
    assert.equal(await c.err('roomGetOwner', room), 'ChatServiceError: Action is not allowed')
    await env.backend.rules([{ hook: 'roomJoin:after', user, answer: { json: { result: ['joined anyway'] } } }])
    assert.equal(await c.ok('roomJoin', missing), 'joined anyway')
  })

  it('a before-hook fails closed: one internalError ack for a 500, a 3xx, a timeout, non-JSON, an array, a huge body', async () => {
    const { c, user, room } = await member()
    const cases = [
      [{ status: 500, json: {} }, /^Error: hook roomMessage:before: the backend answered 500 Internal Server Error$/],
      [{ status: 302, location: '/elsewhere' }, /^Error: hook roomMessage:before: the backend answered 302 Found$/],
      [{ delay: TIMEOUT_MS + 500, json: {} }, /^Error: hook roomMessage:before: no answer within 1500 ms$/],
      [{ raw: 'ok' }, /^Error: hook roomMessage:before: the answer is not a JSON object$/],
      [{ json: [1, 2] }, /^Error: hook roomMessage:before: the answer is not a JSON object$/],
      [{ bytes: 2_000_000 }, /^Error: hook roomMessage:before: the answer is longer than 1000000 bytes$/],
      [{ json: { result: 'x' } }, /^Error: hook roomMessage:before: bad answer: result not an array$/],
      [{ json: { error: 42 } }, /^Error: hook roomMessage:before: bad answer: error neither a string nor an object$/]
    ]
    for (const [answer, expected] of cases) {
      await env.backend.rules([{ hook: 'roomMessage:before', user, answer }])
      const ack = await c.callT(TIMEOUT_MS + 3000, 'roomMessage', room, { textMessage: 'x' })
      assert.equal(ack.length, 2, JSON.stringify(ack))
      assert.match(ack[0], expected)
      assert.equal(ack[1], null)
    }
    await c.noEvent('roomMessage', 100)
    // And the command runs again once the backend does.
    await env.backend.rules([])
    assert.equal(await c.ok('roomMessage', room, { textMessage: 'x' }), 1)
  })

  it('an after-hook fails open: a 500, a timeout or a bad answer keep the outcome', async () => {
    const { c, user, room } = await member()
    const cases = [{ status: 500, json: { result: ['no'] } }, { delay: TIMEOUT_MS + 500, json: {} },
      { raw: 'not json' }, { json: { result: 'x' } }]
    let n = 0
    for (const answer of cases) {
      await env.backend.rules([{ hook: 'roomMessage:after', user, answer }])
      n += 1
      assert.equal(await c.callT(TIMEOUT_MS + 3000, 'roomMessage', room, { textMessage: 'x' }).then(a => a[1]), n)
    }
  })

  it('a slow backend does not hold up other sockets', async () => {
    const slow = await member('slow')
    const fast = await member('fast')
    await env.backend.rules([{ hook: 'roomMessage:before', user: slow.user, answer: { delay: 1200, json: {} } }])
    const started = Date.now()
    let slowDone = null
    const slowAck = slow.c.callT(5000, 'roomMessage', slow.room, { textMessage: 'slow' }).then(a => { slowDone = Date.now(); return a })
    await waitForCall(env.backend, x => x.body.hook === 'roomMessage:before' && x.body.user === slow.user)
    for (let i = 1; i <= 5; i++) {
      assert.equal(await fast.c.ok('roomMessage', fast.room, { textMessage: 'fast' }), i)
    }
    const fastDone = Date.now()
    assert.equal(slowDone, null, 'the slow request is still waiting for its hook')
    assert.ok(fastDone - started < 1000, `fast requests took ${fastDone - started} ms`)
    assert.deepEqual(await slowAck, [null, 1])
  })

  it('calls reuse their connections (keep-alive)', async () => {
    const { c, room } = await member()
    const before = (await env.backend.stats()).connections
    for (let i = 0; i < 20; i++) await c.ok('roomMessage', room, { textMessage: 'x' })
    const opened = (await env.backend.stats()).connections - before
    assert.ok(opened <= 2, `40 sequential calls opened ${opened} connections`)
  })

  it('disconnect: the backend is told who went and why; calls arrive in the order of protocol.md 10', async () => {
    const { c, user, room } = await member()
    await c.ok('roomMessage', room, { textMessage: 'x' })
    const id = c.socket.id
    c.close()
    const call = await waitForCall(env.backend, x => x.body.hook === 'disconnect' && x.body.id === id)
    assert.deepEqual(call.body, { hook: 'disconnect', instanceId: call.body.instanceId, id, user, reason: 'client namespace disconnect' })
    const order = (await env.backend.received())
      .filter(x => x.body.id === id)
      .map(x => x.body.hook)
    assert.deepEqual(order, ['connect', 'roomJoin:before', 'roomJoin:after',
      'roomMessage:before', 'roomMessage:after', 'disconnect'])
  })

  it('/metrics counts calls, failures and latency per hook', async () => {
    const { c, user, room } = await member()
    await env.backend.rules([{ hook: 'roomGetOwner:before', user, answer: { status: 503 } }])
    await c.err('roomGetOwner', room)
    const text = await (await fetch(`${env.url}/metrics`)).text()
    assert.match(text, /chat_service_hook_calls_total\{hook="roomGetOwner:before"\} [1-9]/)
    assert.match(text, /chat_service_hook_failures_total\{hook="roomGetOwner:before",reason="status"\} [1-9]/)
    assert.match(text, /chat_service_hook_duration_seconds_count\{hook="connect"\} [1-9]/)
  })
})

describe('hooks over HTTP: a backend that is down', { skip: OURS_ONLY }, () => {
  const env = {}
  const t = clientSet()
  before(async () => {
    // A port nobody listens on: a backend started and stopped.
    const gone = await startBackend()
    await gone.stop()
    env.server = await startServer(['--hook-url', gone.hookUrl, '--hook-timeout', '1000',
      '--hooks', 'roomMessage:before,roomJoin:after,disconnect', '--enable-rooms-management'])
  })
  after(async () => {
    t.closeAll()
    await env.server?.stop()
  })

  it('before fails closed with internalError, after and disconnect fail open', async () => {
    const c = await t.login(env.server.url, uniq('d'))
    const room = uniq('r')
    await c.ok('roomCreate', room, false)
    assert.equal(await c.ok('roomJoin', room), 1)
    assert.match(await c.err('roomMessage', room, { textMessage: 'x' }), /^Error: hook roomMessage:before: /)
    c.close()
    // The disconnect hook's failure leaves the server as it was.
    const d = await t.login(env.server.url, uniq('d'))
    assert.equal(await d.ok('roomJoin', room), 1)
  })

  it('connect fails closed: the login is rejected', async () => {
    const server = await startServer(['--hook-url', 'http://127.0.0.1:9/hooks', '--hooks', 'connect'])
    try {
      const rejected = await t.connect(server.url, uniq('d')).loginRejected()
      assert.match(rejected, /^Error: hook connect: /)
    } finally {
      await server.stop()
    }
  })
})

describe('hooks over HTTP: configuration', { skip: OURS_ONLY }, () => {
  for (const [flags, message] of [
    [['--hooks', 'connect'], 'invalid value for --hooks: requires --hook-url'],
    [['--hook-url', 'http://127.0.0.1:9/', '--hooks', 'roomJoin:during'], "invalid value for --hooks: unknown hook 'roomJoin:during'"],
    [['--hook-url', 'http://127.0.0.1:9/', '--hooks', 'connect', '--hook-timeout', '0'], 'invalid value for --hook-timeout: must be greater than 0'],
    [['--hook-url', 'https://example.com/', '--hooks', 'connect'], 'invalid value for --hook-url']
  ]) {
    it(`exits 2: ${flags.join(' ')}`, async () => {
      const r = await expectExit(flags)
      assert.equal(r.listened, false)
      assert.equal(r.code, 2)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.ok(r.stderr.includes(message), r.stderr)
    })
  }
})

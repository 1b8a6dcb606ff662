// JWT authentication of the binary (interface.md 2). Only our binary.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq, V4_ONLY } from '../lib/client.mjs'
import { makeJwt, nowSec } from '../lib/jwt.mjs'

const SECRET = 'test-secret-Ünicode-0123456789'

describe('--auth jwt --jwt-secret', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--auth', 'jwt', '--jwt-secret', SECRET])
  const t = clientSet()
  afterEach(() => t.closeAll())

  async function expectRejected (c) {
    const error = await c.loginRejected()
    assert.ok((typeof error === 'string' && error.length > 0) || (error && typeof error === 'object'),
      `loginRejected carries an error, got ${JSON.stringify(error)}`)
    const [reason] = await c.next('disconnect')
    assert.equal(reason, 'io server disconnect')
    return error
  }

  it('valid token in the auth payload: sub is the user, other claims are the authData', { skip: V4_ONLY }, async () => {
    const user = uniq('jwt')
    const token = makeJwt({ sub: user, role: 'moderator', org: { id: 7 }, exp: nowSec() + 600 }, SECRET)
    const c = t.connect(srv.url, null, { auth: { token } })
    const { userName, authData } = await c.login()
    assert.equal(userName, user)
    assert.equal(authData.role, 'moderator')
    assert.deepEqual(authData.org, { id: 7 })
    assert.equal(authData.id, c.socket.id)
    assert.deepEqual(await c.ok('listOwnSockets'), { [authData.id]: [] })
  })

  it('valid token in the query parameter "token"', async () => {
    const user = uniq('jwtq')
    const token = makeJwt({ sub: user, exp: nowSec() + 600 }, SECRET)
    const c = t.connect(srv.url, null, { query: { token } })
    const { userName, authData } = await c.login()
    assert.equal(userName, user)
    assert.equal(authData.id, c.socket.id)
  })

  it('valid token in an Authorization: Bearer header', { skip: V4_ONLY }, async () => {
    const user = uniq('jwth')
    const token = makeJwt({ sub: user, exp: nowSec() + 600 }, SECRET)
    const c = t.connect(srv.url, null, { extraHeaders: { Authorization: `Bearer ${token}` }, transports: ['polling'] })
    const { userName } = await c.login()
    assert.equal(userName, user)
  })

  it('a token without exp is accepted (exp is optional, RFC 7519; checked when present)', async () => {
    const user = uniq('noexp')
    const c = t.connect(srv.url, null, { query: { token: makeJwt({ sub: user }, SECRET) } })
    const { userName } = await c.login()
    assert.equal(userName, user)
  })

  it('the query user parameter is not a credential in jwt mode', async () => {
    await expectRejected(t.connect(srv.url, uniq('plain')))
  })

  it('expired token: loginRejected then disconnect', async () => {
    const token = makeJwt({ sub: uniq('exp'), exp: nowSec() - 3600 }, SECRET)
    await expectRejected(t.connect(srv.url, null, { query: { token } }))
  })

  it('token not valid yet (nbf in the future): loginRejected', async () => {
    const token = makeJwt({ sub: uniq('nbf'), nbf: nowSec() + 3600 }, SECRET)
    await expectRejected(t.connect(srv.url, null, { query: { token } }))
  })

  it('wrong signature: loginRejected', async () => {
    const token = makeJwt({ sub: uniq('sig'), exp: nowSec() + 600 }, 'another secret')
    await expectRejected(t.connect(srv.url, null, { query: { token } }))
  })

  it('tampered payload: loginRejected', async () => {
    const good = makeJwt({ sub: 'alice', exp: nowSec() + 600 }, SECRET)
    const [h, , s] = good.split('.')
    const p = Buffer.from(JSON.stringify({ sub: 'mallory', exp: nowSec() + 600 })).toString('base64url')
    await expectRejected(t.connect(srv.url, null, { query: { token: `${h}.${p}.${s}` } }))
  })

  it('alg "none": loginRejected', async () => {
    const token = makeJwt({ sub: uniq('none'), exp: nowSec() + 600 }, null, { alg: 'none' })
    await expectRejected(t.connect(srv.url, null, { query: { token } }))
  })

  it('garbage and missing tokens: loginRejected', async () => {
    await expectRejected(t.connect(srv.url, null, { query: { token: 'not.a.jwt' } }))
    await expectRejected(t.connect(srv.url, null))
  })

  it('a token whose sub breaks the name rule: loginRejected with invalidName', async () => {
    const token = makeJwt({ sub: 'bad:name', exp: nowSec() + 600 }, SECRET)
    const c = t.connect(srv.url, null, { query: { token } })
    assert.equal(await c.loginRejected(), 'ChatServiceError: String bad:name contains invalid characters')
  })
})

describe('--auth jwt with --use-raw-error-objects', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--auth', 'jwt', '--jwt-secret', SECRET, '--use-raw-error-objects'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('a rejected token is an internalError object carrying the reason', async () => {
    const token = makeJwt({ sub: uniq('exp'), exp: nowSec() - 3600 }, SECRET)
    const error = await t.connect(srv.url, null, { query: { token } }).loginRejected()
    assert.deepEqual(Object.keys(error), ['name', 'code', 'args'])
    assert.equal(error.name, 'ChatServiceError')
    assert.equal(error.code, 'internalError')
    assert.equal(error.args.length, 1)
    assert.match(error.args[0], /^Error: .*expired/)
  })

  it('a missing token is noLogin', async () => {
    const error = await t.connect(srv.url, null, {}).loginRejected()
    assert.deepEqual(error, { name: 'ChatServiceError', code: 'noLogin', args: [] })
  })
})

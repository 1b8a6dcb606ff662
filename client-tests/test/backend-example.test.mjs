// examples/backend.mjs, the README's "Extending the server from your
// backend", run as its own process next to the binary: passwords checked
// in `connect`, messages rewritten and refused in `roomMessage:before`,
// stored in its own file in `roomMessage:after`, a "sys" event pushed to
// everyone with the admin API's `emitToAll` at each sign-in.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startServer, CLIENT_TESTS_DIR, OURS_ONLY } from '../lib/server.mjs'
import { freePort } from '../lib/redis.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

const BACKEND = path.join(CLIENT_TESTS_DIR, '..', 'examples', 'backend.mjs')
const ADMIN = 'admin-token-of-the-example'
const HOOK = 'hook-token-of-the-example'

/** Starts the example backend on `port`; resolves once it listens. */
function startBackend (port, chatUrl, store) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [BACKEND, '--port', String(port), '--chat', chatUrl,
      '--admin-token', ADMIN, '--hook-token', HOOK, '--users', 'alice:wonderland,bob:builder', '--store', store],
    { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`the backend did not start:\n${out}`)) }, 10000)
    proc.stdout.setEncoding('utf8')
    proc.stderr.setEncoding('utf8')
    proc.stderr.on('data', d => { out += d })
    proc.stdout.on('data', d => {
      out += d
      if (out.includes('backend listening on')) {
        clearTimeout(timer)
        resolve({ stop: () => new Promise(res => { proc.once('exit', res); proc.kill('SIGTERM') }), output: () => out })
      }
    })
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`the backend exited with ${code}:\n${out}`)) })
  })
}

describe('examples/backend.mjs: a backend in Node.js over the HTTP hooks and the admin API', { skip: OURS_ONLY }, () => {
  let srv, backend, store
  const t = clientSet()
  before(async () => {
    const port = await freePort()
    store = path.join(mkdtempSync(path.join(os.tmpdir(), 'chat-backend-')), 'messages.jsonl')
    srv = await startServer(['--admin-token', ADMIN, '--enable-rooms-management',
      '--hook-url', `http://127.0.0.1:${port}/hooks`, '--hook-token', HOOK,
      '--hooks', 'connect,roomMessage:before,roomMessage:after'])
    backend = await startBackend(port, srv.url, store)
  })
  after(async () => {
    await backend?.stop()
    await srv?.stop()
  })
  afterEach(() => t.closeAll())

  it('signs users in by password; a wrong one or an unknown user is rejected', async () => {
    const wrong = t.connect(srv.url, 'alice', { query: { password: 'rabbit' } })
    assert.equal(await wrong.loginRejected(), 'wrong user name or password')
    const unknown = t.connect(srv.url, uniq('mallory'), { query: { password: 'x' } })
    assert.equal(await unknown.loginRejected(), 'wrong user name or password')
    const alice = await t.login(srv.url, 'alice', { query: { password: 'wonderland' } })
    assert.equal(alice.userName, 'alice')
    assert.equal(typeof alice.authData.signedInAt, 'number')
  })

  it('pushes "sys" to everyone when a user signs in', async () => {
    const bob = await t.login(srv.url, 'bob', { query: { password: 'builder' } })
    bob.watch('sys')
    await t.login(srv.url, 'alice', { query: { password: 'wonderland' } })
    assert.deepEqual(await bob.next('sys', { filter: text => text === 'alice signed in' }), ['alice signed in'])
  })

  it('rewrites messages, refuses empty ones, and keeps a copy of each in its own store', async () => {
    const room = uniq('kitchen')
    const alice = await t.login(srv.url, 'alice', { query: { password: 'wonderland' } })
    const bob = await t.login(srv.url, 'bob', { query: { password: 'builder' } })
    await alice.ok('roomCreate', room, false)
    await alice.ok('roomJoin', room)
    await bob.ok('roomJoin', room)
    const id = await alice.ok('roomMessage', room, { textMessage: '  well,   darn   it  ' })
    const [where, message] = await bob.next('roomMessage')
    assert.equal(where, room)
    assert.equal(message.textMessage, 'well, **** it')
    assert.equal(message.id, id)
    assert.equal(await alice.err('roomMessage', room, { textMessage: '   ' }), 'an empty message')
    const stored = readFileSync(store, 'utf8').trim().split('\n').map(line => JSON.parse(line))
      .filter(entry => entry.room === room)
    assert.deepEqual(stored.map(e => [e.id, e.author, e.message.textMessage]), [[id, 'alice', 'well, **** it']])
    assert.ok(existsSync(store))
  })
})

// The examples run as the README says: examples/client.js against the
// binary (room made with the admin API) and against examples/server.rs
// (room "lobby" made at start; its before-hook refuses shouting); the
// README's quickstart, the original's, against the binary as it stands.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { readFile } from 'node:fs/promises'
import { startServer, CLIENT_TESTS_DIR, OURS_ONLY } from '../lib/server.mjs'
import { connect } from '../lib/client.mjs'

const ROOT = path.resolve(CLIENT_TESTS_DIR, '..')
const EXAMPLE_CLIENT = path.join(ROOT, 'examples', 'client.js')
const EXAMPLE_CONVERSATION = path.join(ROOT, 'examples', 'conversation.js')
const EXAMPLE_SERVER = process.env.CHAT_SERVICE_EXAMPLE_SERVER ||
  path.join(ROOT, 'target', 'release', 'examples', 'server')

function runClient (url, user, room) {
  return promisify(execFile)(process.execPath, [EXAMPLE_CLIENT, url, user, room], {
    env: { ...process.env, NODE_PATH: path.join(CLIENT_TESTS_DIR, 'node_modules') },
    timeout: 15000
  })
}

/** Spawns examples/server on a free port; resolves {url, stop()}. */
function startExampleServer () {
  return new Promise((resolve, reject) => {
    const proc = spawn(EXAMPLE_SERVER, [], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`no listening line:\n${out}`)) }, 20000)
    proc.on('error', reject)
    proc.stdout.setEncoding('utf8')
    proc.stdout.on('data', d => {
      out += d
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({
          url: m[1],
          stop: () => new Promise(res => { proc.once('exit', res); proc.kill('SIGINT') })
        })
      }
    })
  })
}

describe('examples/client.js against the binary', { skip: OURS_ONLY }, () => {
  let srv
  before(async () => { srv = await startServer(['--admin-token', 'T']) })
  after(() => srv.stop())

  it('the demo room "lobby" exists from the start (the built-in page is served)', async () => {
    const { stdout } = await runClient(srv.url, 'zed', 'lobby')
    assert.match(stdout, /joined lobby/)
  })

  it('logs in, joins, sends and reads the history', async () => {
    const res = await fetch(`${srv.url}/api/addRoom`, {
      method: 'POST',
      headers: { authorization: 'Bearer T', 'content-type': 'application/json' },
      body: JSON.stringify(['kitchen'])
    })
    assert.equal(res.status, 200)
    const first = await runClient(srv.url, 'ann', 'kitchen')
    assert.match(first.stdout, /logged in as ann/)
    assert.match(first.stdout, /sent message #1/)
    const second = await runClient(srv.url, 'bob', 'kitchen')
    assert.match(second.stdout, /#2 bob: hello from bob\n {2}#1 ann: hello from ann/)
  })
})

describe('examples/conversation.js against the binary', { skip: OURS_ONLY }, () => {
  let srv
  before(async () => { srv = await startServer([]) })
  after(() => srv.stop())

  it('a message to an offline user waits for them in their conversation', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE_CONVERSATION, srv.url, 'kim', 'ann'], {
      env: { ...process.env, NODE_PATH: path.join(CLIENT_TESTS_DIR, 'node_modules') },
      timeout: 15000
    })
    assert.match(stdout, /kim wrote message #1 in dm:ann:kim, ann being offline/)
    assert.match(stdout, /ann has a conversation with kim \(dm:ann:kim\), newest first:\n {2}#1 kim: hello ann, are you there\?/)
  })
})

describe('examples/server.rs', { skip: OURS_ONLY }, () => {
  let srv
  before(async () => { srv = await startExampleServer() })
  after(() => srv.stop())

  it('has the lobby from the start and serves the example client', async () => {
    const { stdout } = await runClient(srv.url, 'cid', 'lobby')
    assert.match(stdout, /joined lobby/)
    assert.match(stdout, /sent message #1/)
  })

  it('its on_connect adds a greeting and its before-hook refuses shouting', async () => {
    const c = connect(srv.url, 'dan')
    try {
      const { authData } = await c.login()
      assert.equal(authData.greeting, 'welcome to the lobby')
      assert.deepEqual(await c.call('roomJoin', 'lobby'), [null, 1])
      assert.deepEqual(await c.call('roomMessage', 'lobby', { textMessage: 'HELLO ALL' }),
        ['ChatServiceError: noShouting', null])
      const [error, id] = await c.call('roomMessage', 'lobby', { textMessage: 'hello all' })
      assert.equal(error, null)
      assert.equal(typeof id, 'number')
    } finally {
      c.close()
    }
  })
})

/** The sh and js blocks of the README section "The original's quickstart". */
async function readmeQuickstart () {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf("### The original's quickstart")
  assert.ok(start >= 0, 'README has the quickstart section')
  const section = readme.slice(start, readme.indexOf('\n### ', start + 1))
  const block = lang => {
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section)
    assert.ok(m, `a ${lang} block`)
    return m[1]
  }
  const sh = block('sh')
  const curl = /^curl -X POST (\S+) -H 'Authorization: Bearer (\S+)' .* -d '(.*)'$/m.exec(sh)
  assert.ok(curl, sh)
  const serverToken = /--admin-token (\S+)/.exec(sh)[1]
  return { serverToken, apiUrl: new URL(curl[1]), token: curl[2], body: curl[3], client: block('js') }
}

/** Runs a CommonJS client until its output matches `expected`. */
function runUntil (code, expected) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['-e', code], {
      env: { ...process.env, NODE_PATH: path.join(CLIENT_TESTS_DIR, 'node_modules') },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`no ${expected} within 15 s:\n${out}`)) }, 15000)
    const read = d => {
      out += d
      if (expected.test(out)) {
        clearTimeout(timer)
        proc.kill()
        resolve(out)
      }
    }
    proc.stdout.setEncoding('utf8').on('data', read)
    proc.stderr.setEncoding('utf8').on('data', read)
    proc.on('exit', code => { clearTimeout(timer); if (!expected.test(out)) reject(new Error(`exited ${code}:\n${out}`)) })
  })
}

describe("the README's quickstart (the original's client) against the binary with default flags", { skip: OURS_ONLY }, () => {
  let srv, quickstart
  before(async () => {
    quickstart = await readmeQuickstart()
    srv = await startServer(['--admin-token', quickstart.serverToken])
  })
  after(() => srv.stop())

  it('the admin call adds room "default" (then 409 roomExists); the client logs in with userName, joins and reads its own "Hello!", with socket.io-client 4 and 2', async () => {
    const { apiUrl, token, body, client } = quickstart
    const addRoom = () => fetch(`${srv.url}${apiUrl.pathname}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(5000)
    })
    const res = await addRoom()
    assert.deepEqual([res.status, await res.json()], [200, { result: null }])
    const again = await addRoom()
    assert.deepEqual([again.status, (await again.json()).error.code], [409, 'roomExists'])

    const local = client.replace('ws://localhost:8000', srv.url.replace(/^http/, 'ws'))
    assert.notEqual(local, client, 'the client connects to ws://localhost:8000')
    const v4 = await runUntil(local, /^user: Hello!$/m)
    assert.doesNotMatch(v4, /Error/)
    const v2 = local.replace("require('socket.io-client')", "require('socket.io-client-v2')")
    assert.notEqual(v2, local)
    assert.match(await runUntil(v2, /^user: Hello!$/m), /^user: Hello!$/m)
  })
})

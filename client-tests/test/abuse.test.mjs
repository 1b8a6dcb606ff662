// A hostile client on the internet (interface.md 8): connections that send
// nothing or trickle a request head are closed after --http-header-timeout,
// unfinished bodies after --http-body-timeout and without the server
// holding their bytes (memory read from /proc), admin bodies are not read
// before the token is checked, no room name reaches a socket or user
// channel, --static-dir serves only regular files inside it, JWTs with
// critical header extensions are refused, rejected logins are logged.
// Raw TCP sockets for what no client library does.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { startServer, useServer, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'
import { makeJwt, nowSec } from '../lib/jwt.mjs'

/** Resident memory of a process, in KB (Linux /proc). */
function rssKb (pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1])
}

/** A raw TCP connection; `closed` resolves when the server closes it. */
function rawConnection (port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = ''
    socket.setEncoding('latin1')
    socket.on('data', (d) => { received += d })
    const closed = new Promise((res) => socket.once('close', () => res(Date.now())))
    socket.on('error', () => {})
    socket.once('connect', () => resolve({ socket, closed, received: () => received }))
    socket.once('error', reject)
  })
}

/** Resolves with `promise`'s value, or rejects after `ms`. */
function within (ms, promise, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  ])
}

async function health (url) {
  const started = Date.now()
  const get = () => fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) })
  // fetch keeps connections alive for 4 s, and these servers close idle
  // ones after their 1 s --http-header-timeout: a request that picks a
  // connection just as the server closes it fails on the client side
  // before reaching the server. Browsers retry such requests; so do we,
  // once.
  const res = await get().catch((error) => {
    if (error.name !== 'TypeError') throw error
    return get()
  })
  return { status: res.status, ms: Date.now() - started }
}

describe('slow and idle connections', { skip: OURS_ONLY }, () => {
  let srv
  before(async () => { srv = await startServer(['--http-header-timeout', '1000', '--http-body-timeout', '1500']) })
  after(() => srv.stop())

  it('connections that send nothing or trickle a request head are closed after --http-header-timeout; the server answers meanwhile', async () => {
    const opened = Date.now()
    const idle = await Promise.all(Array.from({ length: 100 }, () => rawConnection(srv.port)))
    const trickling = await Promise.all(Array.from({ length: 100 }, () => rawConnection(srv.port)))
    const timers = trickling.map(({ socket }, i) => {
      socket.write('GET / HTTP/1.1\r\n')
      return setInterval(() => socket.write(`X-Slow-${i}: a\r\n`), 200)
    })
    try {
      const h = await health(srv.url)
      assert.equal(h.status, 200)
      assert.ok(h.ms < 1000, `/health took ${h.ms} ms with 200 slow connections open`)
      const closedAt = await within(5000, Promise.all([...idle, ...trickling].map(c => c.closed)), 'closing the slow connections')
      const latest = Math.max(...closedAt) - opened
      assert.ok(latest >= 900, `closed after ${latest} ms, before the timeout`)
      console.log(`# 200 slow connections closed by the server within ${latest} ms (--http-header-timeout 1000)`)
    } finally {
      timers.forEach(clearInterval)
      for (const c of [...idle, ...trickling]) c.socket.destroy()
    }
    assert.equal((await health(srv.url)).status, 200)
  })

  it('an unfinished long-polling POST is closed after --http-body-timeout, and the server does not hold the bytes of 100 of them', async () => {
    const before = rssKb(srv.proc.pid)
    // engine.io sessions to post to
    const sids = await Promise.all(Array.from({ length: 100 }, async () => {
      const res = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(5000) })
      const text = await res.text()
      return JSON.parse(text.slice(text.indexOf('{'))).sid
    }))
    const chunk = 'x'.repeat(64 * 1024)
    const posts = await Promise.all(sids.map(async (sid) => {
      const c = await rawConnection(srv.port)
      c.socket.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n` +
        'Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 900000\r\n\r\n4')
      for (let i = 0; i < 12; i++) c.socket.write(chunk) // 768 KB of 900 KB
      return c
    }))
    try {
      // the server's memory at its highest while the bodies hang
      let peak = before
      const sampler = setInterval(() => { peak = Math.max(peak, rssKb(srv.proc.pid)) }, 50)
      try {
        await within(6000, Promise.all(posts.map(c => c.closed)), 'closing the unfinished POSTs')
      } finally {
        clearInterval(sampler)
      }
      const grown = peak - before
      console.log(`# 100 unfinished polling POSTs (768 KB of 900 KB sent each): server RSS at most +${grown} KB, all closed after --http-body-timeout`)
      assert.ok(grown < 48 * 1024, `RSS grew by ${grown} KB`)
    } finally {
      for (const c of posts) c.socket.destroy()
    }
    assert.equal((await health(srv.url)).status, 200)
  })
})

describe('admin API bodies', { skip: OURS_ONLY }, () => {
  for (const [label, flags, expected] of [['no --admin-token', [], 404], ['a wrong token', ['--admin-token', 'right'], 401]]) {
    it(`with ${label}: 200 POSTs announcing 2 MB get ${expected} at once, their bodies unread`, async () => {
      const srv = await startServer(flags)
      try {
        const before = rssKb(srv.proc.pid)
        const chunk = 'y'.repeat(64 * 1024)
        const posts = await Promise.all(Array.from({ length: 200 }, async () => {
          const c = await rawConnection(srv.port)
          c.socket.write('POST /api/hasRoom HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n' +
            'Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n')
          for (let i = 0; i < 8; i++) c.socket.write(chunk)
          return c
        }))
        try {
          // answered at once: the status line, or (as the unread body is
          // dropped with the connection) a reset that may discard it
          await within(5000, Promise.all(posts.map(async (c) => {
            while (!/^HTTP\/1\.1 (\d+)/.test(c.received())) {
              const ended = await Promise.race([c.closed, new Promise(resolve => c.socket.once('data', () => resolve(null)))])
              if (ended !== null) return
            }
          })), 'the answers')
          const answered = posts.filter(c => c.received())
          for (const c of answered) assert.match(c.received(), new RegExp(`^HTTP/1.1 ${expected}`))
          const grown = rssKb(srv.proc.pid) - before
          console.log(`# 200 admin POSTs of 2 MB with ${label}: RSS +${grown} KB`)
          assert.ok(grown < 60 * 1024, `RSS grew by ${grown} KB`)
        } finally {
          for (const c of posts) c.socket.destroy()
        }
      } finally {
        await srv.stop()
      }
    })
  }
})

describe('room channels never reach sockets that did not join', () => {
  const srv = useServer(before, after, ['--enable-rooms-management'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  for (const version of [4, 2]) {
    it(`a room named like a socket.io-client ${version} victim's socket id`, async () => {
      const victim = await t.login(srv.url, uniq('victim'), { version })
      const attacker = await t.login(srv.url, uniq('attacker'))
      const member = await t.login(srv.url, uniq('member'))
      for (const room of [victim.id, victim.socket.id]) {
        const [error] = await attacker.call('roomCreate', room, false)
        if (error !== null) assert.match(error, /already exists/) // the same id twice for v4
        await attacker.ok('roomJoin', room)
        await member.ok('roomJoin', room)
        const id = await attacker.ok('roomMessage', room, { textMessage: 'boo' })
        await member.next('roomMessage', { filter: (r, m) => m.id === id })
      }
      await victim.noEvent('roomMessage', 300)
      await victim.noEvent('roomUserJoined', 100)
      // the channel names of sockets and users cannot be rooms
      assert.match(await attacker.err('roomCreate', `socket:${victim.id}`, false), /invalid characters/)
      assert.match(await attacker.err('roomCreate', `echo:${victim.userName}`, false), /invalid characters/)
    })
  }
})

describe('--static-dir', { skip: OURS_ONLY }, () => {
  let srv, dir
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-static-'))
    fs.writeFileSync(path.join(dir, 'index.html'), '<p>index</p>')
    fs.writeFileSync(path.join(dir, 'a.txt'), 'a file')
    fs.mkdirSync(path.join(dir, 'sub'))
    fs.writeFileSync(path.join(dir, 'sub', 'b.txt'), 'b file')
    fs.writeFileSync(path.join(dir, '.env'), 'SECRET=1')
    fs.mkdirSync(path.join(dir, '.git'))
    fs.writeFileSync(path.join(dir, '.git', 'config'), '[core]')
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-outside-'))
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside')
    fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd'))
    fs.symlinkSync(outside, path.join(dir, 'out'))
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'secret.txt'))
    fs.symlinkSync(path.join(outside, 'missing.txt'), path.join(dir, 'dangling.txt'))
    fs.symlinkSync(path.join(dir, 'a.txt'), path.join(dir, 'inside-link.txt'))
    srv = await startServer(['--static-dir', dir])
  })
  after(async () => {
    await srv.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  /** GET over raw TCP: the path goes out exactly as written. */
  async function get (p) {
    const c = await rawConnection(srv.port)
    c.socket.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    await within(5000, c.closed, `GET ${p}`)
    const text = c.received()
    return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) }
  }

  it('serves its regular files (and index.html for unknown paths)', async () => {
    assert.deepEqual(await get('/a.txt'), { status: 200, body: 'a file' })
    assert.deepEqual(await get('/sub/b.txt'), { status: 200, body: 'b file' })
    assert.deepEqual(await get('/inside-link.txt'), { status: 200, body: 'a file' })
    assert.equal((await get('/')).body, '<p>index</p>')
    assert.equal((await get('/some/app/route')).body, '<p>index</p>')
  })

  it('no symbolic link out of it, no dotfiles, no escaping paths', async () => {
    for (const p of ['/passwd', '/out/secret.txt', '/secret.txt', '/dangling.txt', '/.env', '/.git/config',
      '/%2eenv', '/sub/..%2f.env', '/..%2f..%2fetc%2fpasswd', '/../../etc/passwd', '/sub/%2e%2e/.env']) {
      const r = await get(p)
      assert.notEqual(r.status, 200, `${p}: ${r.status} ${r.body.slice(0, 40)}`)
      assert.ok(!/root:|SECRET|outside|\[core\]/.test(r.body), `${p} leaked ${r.body.slice(0, 40)}`)
    }
  })
})

describe('logins: critical JWT header extensions, and a log of rejected logins', { skip: OURS_ONLY }, () => {
  let srv
  const t = clientSet()
  before(async () => {
    srv = await startServer(['--auth', 'jwt', '--jwt-secret', 'abuse-secret'], { env: { RUST_LOG: 'info' } })
  })
  after(async () => { t.closeAll(); await srv.stop() })

  it('a token whose header lists crit extensions is rejected (RFC 7515 4.1.11)', async () => {
    const token = makeJwt({ sub: uniq('crit'), exp: nowSec() + 600 }, 'abuse-secret', { header: { crit: ['exp'], exp: 1 } })
    const c = t.connect(srv.url, null, { query: { token } })
    assert.deepEqual(await c.loginRejected(), 'Error: unsupported critical header parameters')
  })

  it('rejected logins are logged at info with the reason and the peer, at most 10 a second', async () => {
    const started = Date.now()
    const clients = Array.from({ length: 100 }, () => t.connect(srv.url, null, { query: { token: 'not.a.jwt' } }))
    await Promise.all(clients.map(c => c.loginRejected()))
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1
    const plain = srv.output().replace(/\x1b\[[0-9;]*m/g, '')
    const lines = plain.split('\n').filter(l => l.includes('login rejected') && l.includes('malformed token'))
    assert.ok(lines.length >= 1, srv.output())
    assert.ok(lines.length <= 10 * seconds, `${lines.length} lines for 100 rejected logins in ${seconds} s`)
    assert.match(lines[0], /peer=127\.0\.0\.1:\d+/)
  })
})

describe('limits per user and socket (interface.md 8), both client generations', { skip: OURS_ONLY }, () => {
  let srv
  const t = clientSet()
  before(async () => {
    srv = await startServer(['--enable-rooms-management', '--max-sockets-per-user', '2', '--rate-limit', '5',
      '--max-message-bytes', '100', '--max-rooms-per-user', '2'])
  })
  after(async () => { t.closeAll(); await srv.stop() })
  afterEach(() => t.closeAll())

  async function limited (limit) {
    const text = await (await fetch(`${srv.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
    const line = text.split('\n').find(l => l.startsWith(`chat_service_limited_total{limit="${limit}"}`))
    return line ? Number(line.split(' ')[1]) : 0
  }

  for (const version of [4, 2]) {
    it(`socket.io-client ${version}: --max-sockets-per-user refuses a third login with tooManySockets, a closed one makes room`, async () => {
      const user = uniq('many')
      const a = await t.login(srv.url, user, { version })
      await t.login(srv.url, user, { version })
      const before = await limited('max_sockets_per_user')
      const third = t.connect(srv.url, user, { version })
      assert.equal(await third.loginRejected(), `ChatServiceError: Too many connections of user ${user}`)
      assert.equal(await limited('max_sockets_per_user'), before + 1)
      // the refused socket left nothing behind
      assert.equal(Object.keys(await a.ok('listOwnSockets')).length, 2)
      a.close()
      await t.login(srv.url, user, { version })
    })

    it(`socket.io-client ${version}: --rate-limit answers the requests beyond the burst with rateLimited, runs the others, keeps the socket`, async () => {
      const c = await t.login(srv.url, uniq('fast'), { version })
      const acks = await Promise.all(Array.from({ length: 20 }, () => c.call('listOwnSockets')))
      const refused = acks.filter(([error]) => error === 'ChatServiceError: Too many requests')
      const ran = acks.filter(([error]) => error === null)
      assert.equal(refused.length + ran.length, 20, JSON.stringify(acks))
      assert.ok(ran.length >= 5 && ran.length <= 7, `${ran.length} ran`)
      assert.ok(await limited('rate_limit') >= refused.length)
      // tokens come back (5 a second): a request goes through again
      const deadline = Date.now() + 3000
      for (;;) {
        const [error] = await c.call('listOwnSockets')
        if (error === null) break
        assert.ok(Date.now() < deadline, 'no token came back within 3 s')
        await new Promise(resolve => setTimeout(resolve, 50)) // poll interval of a refilling bucket
      }
      assert.equal(c.pending('disconnect').length, 0)
    })

    it(`socket.io-client ${version}: --max-rooms-per-user refuses a third roomCreate with notAllowed, a deleted room makes room`, async () => {
      const c = await t.login(srv.url, uniq('owner'), { version })
      const [r1, r2, r3] = [uniq('r'), uniq('r'), uniq('r')]
      await c.ok('roomCreate', r1, false)
      await c.ok('roomCreate', r2, false)
      assert.equal(await c.err('roomCreate', r3, false), 'ChatServiceError: Action is not allowed')
      assert.ok(await limited('max_rooms_per_user') >= 1)
      await c.ok('roomDelete', r1)
      assert.equal(await c.ok('roomCreate', r3, false), null)
    })

    it(`socket.io-client ${version}: --max-message-bytes refuses larger messages with badArgument`, async () => {
      const c = await t.login(srv.url, uniq('big'), { version })
      const room = uniq('room')
      await c.ok('roomCreate', room, false)
      await c.ok('roomJoin', room)
      const small = { textMessage: 'x'.repeat(50) }
      const large = { textMessage: 'x'.repeat(200) }
      assert.equal(await c.ok('roomMessage', room, small), 1)
      assert.equal(await c.err('roomMessage', room, large),
        `ChatServiceError: Bad argument at position 1, value ${JSON.stringify(large)}`)
    })
  }

})

describe('history replies have a byte budget (--max-payload-bytes)', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--max-payload-bytes', '2000'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('roomHistoryGet keeps the oldest of what was asked for, roomRecentHistory the newest, at least one message', async () => {
    const c = await t.login(srv.url, uniq('hist'))
    const room = uniq('room')
    await c.ok('roomCreate', room, false)
    await c.ok('roomJoin', room)
    for (let i = 1; i <= 20; i++) assert.equal(await c.ok('roomMessage', room, { textMessage: `${i}`.padEnd(300, '.') }), i)
    const got = await c.ok('roomHistoryGet', room, 0, 100)
    const recent = await c.ok('roomRecentHistory', room)
    for (const reply of [got, recent]) {
      assert.ok(reply.length >= 1 && reply.length < 20, `${reply.length} messages`)
      assert.ok(JSON.stringify(reply).length <= 2000, `${JSON.stringify(reply).length} bytes`)
    }
    // newest first; from id 1 on, so the client asks again from the last id
    assert.deepEqual(got.map(m => m.id), Array.from({ length: got.length }, (_, i) => got.length - i))
    const next = await c.ok('roomHistoryGet', room, got.length, 100)
    assert.equal(next.at(-1).id, got.length + 1)
    assert.deepEqual(recent.map(m => m.id), Array.from({ length: recent.length }, (_, i) => 20 - i))
  })
})

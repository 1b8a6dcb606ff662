// The SQLite state (--state sqlite, the binary's default; interface.md 1):
// what survives a graceful restart and a kill -9 under load, a full disk
// (a file size limit, RLIMIT_FSIZE, set on the running server), and the
// files the binary refuses with exit 2. Each server here chooses its own file.
// Runs in the suite's sqlite mode (the default); skipped in the others,
// which test other states.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { startServer, expectExit, sqliteFlags, tempDbPath, STATE, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, eventually } from '../lib/client.mjs'

const SKIP = OURS_ONLY || (STATE !== 'sqlite' ? `the SQLite state's own tests (CHAT_SERVICE_STATE=${STATE})` : false)
const TOKEN = 'sqlite-test-token'
const FLAGS = ['--enable-rooms-management', '--enable-direct-messages', '--admin-token', TOKEN,
  '--history-max-size', '5', '--history-max-get-messages', '100000']

/** Calls the admin API; resolves `result` or throws with the error. */
async function api (srv, method, ...args) {
  const res = await fetch(`${srv.url}/api/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(args)
  })
  const body = await res.json()
  if (res.status !== 200) throw new Error(`${method}: ${res.status} ${JSON.stringify(body)}`)
  return body.result
}

/** Runs a command with bypassPermissions (as `userName` if given), without joining anything. */
async function exec (srv, command, ...args) {
  const [result] = await api(srv, 'execUserCommand', true, command, ...args)
  return result
}

async function execAs (srv, userName, command, ...args) {
  const [result] = await api(srv, 'execUserCommand', { userName, bypassPermissions: true }, command, ...args)
  return result
}

/** Waits until the userlists of `rooms` are empty (the disconnects are processed). */
async function emptied (srv, rooms) {
  for (let i = 0; i < 200; i++) {
    const present = await Promise.all(rooms.map(r => exec(srv, 'roomGetAccessList', r, 'userlist')))
    if (present.every(list => list.length === 0)) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`still present in ${rooms}`)
}

/** Everything durable about rooms and users that a client can read. */
async function durable (srv, rooms, users) {
  const out = { rooms: {}, users: {} }
  for (const room of rooms) {
    const info = await exec(srv, 'roomHistoryInfo', room)
    out.rooms[room] = {
      owner: await exec(srv, 'roomGetOwner', room),
      whitelistOnly: await exec(srv, 'roomGetWhitelistMode', room),
      adminlist: await exec(srv, 'roomGetAccessList', room, 'adminlist'),
      whitelist: await exec(srv, 'roomGetAccessList', room, 'whitelist'),
      blacklist: await exec(srv, 'roomGetAccessList', room, 'blacklist'),
      notifications: await exec(srv, 'roomNotificationsInfo', room),
      info,
      history: await exec(srv, 'roomHistoryGet', room, 0, 100000),
      seen: Object.fromEntries(await Promise.all(users.map(async u => [u, await exec(srv, 'roomUserSeen', room, u)])))
    }
  }
  for (const user of users) {
    out.users[user] = {
      whitelistOnly: await execAs(srv, user, 'directGetWhitelistMode'),
      whitelist: await execAs(srv, user, 'directGetAccessList', 'whitelist'),
      blacklist: await execAs(srv, user, 'directGetAccessList', 'blacklist')
    }
  }
  return out
}

/**
 * Asserts a refused start: exit 2, one line naming --sqlite-path, the
 * binary's error line, matching `pattern` (other lines are logs).
 */
function assertRefused (r, pattern) {
  assert.equal(r.listened, false, 'it started')
  assert.equal(r.code, 2, `exit code ${r.code}\n${r.stderr}`)
  const l = (r.stderr + r.stdout).split('\n').filter(l => l.includes('--sqlite-path'))
  assert.equal(l.length, 1, `one line naming --sqlite-path in:\n${r.stderr}${r.stdout}`)
  assert.match(l[0], /^chat-service: --sqlite-path /)
  assert.match(l[0], pattern)
}

function hasSqlite3 () {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('SQLite state: a graceful restart', { skip: SKIP }, () => {
  it('rooms (owner, lists, mode, settings), history with its ids, seen times, direct lists come back; nobody is joined; ids continue', async () => {
    const file = tempDbPath('restart')
    const t = clientSet()
    let srv = await startServer([...FLAGS, ...sqliteFlags(file)])
    try {
      const alice = await t.login(srv.url, 'alice')
      const bob = await t.login(srv.url, 'bob')
      await alice.ok('roomCreate', 'r1', false)
      await alice.ok('roomAddToList', 'r1', 'adminlist', ['carol', 'bob'])
      await alice.ok('roomAddToList', 'r1', 'whitelist', ['dave', 'bob', 'erin'])
      await alice.ok('roomRemoveFromList', 'r1', 'whitelist', ['dave'])
      await alice.ok('roomAddToList', 'r1', 'blacklist', ['mallory', 'eve'])
      await alice.ok('roomCreate', 'r2', true)
      await alice.ok('roomAddToList', 'r2', 'whitelist', ['bob'])
      await api(srv, 'changeUserlistUpdates', 'r2', true)
      await api(srv, 'changeRoomHistoryMaxSize', 'r2', 3)
      await api(srv, 'addRoom', 'r3', { owner: 'bob', whitelistOnly: true, blacklist: ['x'] })
      await alice.ok('roomJoin', 'r1')
      await bob.ok('roomJoin', 'r1')
      await bob.ok('roomJoin', 'r2')
      for (let i = 1; i <= 7; i++) {
        const sender = i % 2 ? alice : bob
        assert.equal(await sender.ok('roomMessage', 'r1', { textMessage: `m${i} ✓ ${i / 3}` }), i)
      }
      assert.equal(await bob.ok('roomMessage', 'r2', { textMessage: 'only one' }), 1)
      await bob.ok('roomLeave', 'r1')
      await alice.ok('directAddToList', 'blacklist', ['spam1', 'spam2'])
      await alice.ok('directAddToList', 'whitelist', ['bob', 'carol'])
      await alice.ok('directRemoveFromList', 'whitelist', ['carol'])
      await alice.ok('directSetWhitelistMode', true)
      await api(srv, 'addUser', 'zoe', { blacklist: ['alice'] })
      t.closeAll()
      await emptied(srv, ['r1', 'r2'])

      const users = ['alice', 'bob', 'zoe']
      const before = await durable(srv, ['r1', 'r2', 'r3'], users)
      assert.deepEqual(before.rooms.r1.history.map(m => m.id), [7, 6, 5, 4, 3])
      assert.equal(before.rooms.r1.info.lastMessageId, 7)
      assert.equal(typeof before.rooms.r1.seen.bob.timestamp, 'number')
      assert.equal(before.rooms.r1.seen.alice.joined, false)
      assert.equal(await srv.stop(), 0, srv.output())

      srv = await startServer([...FLAGS, ...sqliteFlags(file)])
      const health = await (await fetch(`${srv.url}/health`)).json()
      assert.equal(health.state, 'sqlite')
      assert.deepEqual(await durable(srv, ['r1', 'r2', 'r3'], users), before)
      for (const room of ['r1', 'r2', 'r3']) {
        assert.deepEqual(await exec(srv, 'roomGetAccessList', room, 'userlist'), [], `${room}'s userlist`)
      }

      // The users and rooms work on from there: ids continue.
      const again = await t.login(srv.url, 'alice')
      await again.ok('roomJoin', 'r1')
      assert.equal(await again.ok('roomMessage', 'r1', { textMessage: 'after' }), 8)
      const recent = await again.ok('roomRecentHistory', 'r1')
      assert.deepEqual(recent.map(m => m.id), [8, 7, 6, 5, 4])
      assert.deepEqual(recent.slice(1), before.rooms.r1.history.slice(0, 4))
      // No ghost: bob was joined to r2 when the server stopped.
      const bob2 = await t.login(srv.url, 'bob')
      await bob2.err('roomMessage', 'r2', { textMessage: 'x' })
      // The blacklist still keeps eve out.
      await (await t.login(srv.url, 'eve')).err('roomJoin', 'r1')
    } finally {
      t.closeAll()
      await srv.stop()
    }
  })
})

describe('SQLite state: kill -9 under load', { skip: SKIP }, () => {
  it('every acked message is there after a restart, ids are 1..N without gaps, nobody is joined', async () => {
    const file = tempDbPath('kill')
    const flags = ['--admin-token', TOKEN, '--history-max-get-messages', '100000', ...sqliteFlags(file)]
    const t = clientSet()
    let srv = await startServer(flags)
    const room = 'load'
    const acked = new Map()
    try {
      await api(srv, 'addRoom', room)
      const senders = []
      for (let i = 0; i < 8; i++) {
        const c = await t.login(srv.url, `sender${i}`)
        await c.ok('roomJoin', room)
        senders.push(c)
      }
      let stop = false
      const send = (c, text) => new Promise(resolve => {
        c.socket.emit('roomMessage', room, { textMessage: text }, (error, id) => resolve(error ? null : id))
      })
      // Each sender keeps 4 messages in flight until the kill.
      const loops = senders.flatMap((c, i) => [0, 1, 2, 3].map(async lane => {
        for (let n = 0; !stop; n++) {
          const text = `${i}.${lane}.${n}`
          const id = await send(c, text)
          if (id !== null && !stop) acked.set(id, text)
        }
      }))
      while (acked.size < 1500) await new Promise(resolve => setTimeout(resolve, 10))
      srv.proc.kill('SIGKILL')
      const { signal } = await srv.exited
      // Acks that arrived before the exit was noticed count too.
      stop = true
      assert.equal(signal, 'SIGKILL')
      t.closeAll()
      void loops

      srv = await startServer(flags)
      const info = await exec(srv, 'roomHistoryInfo', room)
      const history = await exec(srv, 'roomHistoryGet', room, 0, info.lastMessageId)
      const ids = history.map(m => m.id).reverse()
      assert.equal(ids.length, info.lastMessageId)
      assert.deepEqual(ids, Array.from({ length: ids.length }, (_, k) => k + 1), 'ids 1..N without gaps')
      const byId = new Map(history.map(m => [m.id, m.textMessage]))
      for (const [id, text] of acked) {
        assert.equal(byId.get(id), text, `acked message ${id} (${text})`)
      }
      assert.ok(info.lastMessageId >= acked.size)
      assert.deepEqual(await exec(srv, 'roomGetAccessList', room, 'userlist'), [])
      for (let i = 0; i < 8; i++) {
        const seen = await exec(srv, 'roomUserSeen', room, `sender${i}`)
        assert.equal(seen.joined, false)
      }
      const c = await t.login(srv.url, 'after')
      await c.ok('roomJoin', room)
      assert.equal(await c.ok('roomMessage', room, { textMessage: 'next' }), info.lastMessageId + 1)
      console.log(`# kill -9 after ${acked.size} acked messages: ${info.lastMessageId} in the file`)
    } finally {
      t.closeAll()
      await srv.stop()
    }
  })
})

describe('SQLite state: a backup while the server runs', { skip: SKIP || (hasSqlite3() ? false : 'needs the sqlite3 command') }, () => {
  it('sqlite3 FILE ".backup COPY" while messages are sent: the copy opens as --sqlite-path with the data it had', async () => {
    const file = tempDbPath('live')
    const copy = tempDbPath('copy')
    const t = clientSet()
    const live = await startServer([...FLAGS, ...sqliteFlags(file)])
    let fromCopy = null
    try {
      const alice = await t.login(live.url, 'alice')
      await alice.ok('roomCreate', 'kept', false)
      await alice.ok('roomAddToList', 'kept', 'blacklist', ['eve'])
      await alice.ok('roomJoin', 'kept')
      for (let i = 1; i <= 20; i++) await alice.ok('roomMessage', 'kept', { textMessage: `m${i}` })
      // Messages go on during the backup.
      let sending = true
      const sender = (async () => {
        for (let i = 21; sending; i++) await alice.ok('roomMessage', 'kept', { textMessage: `m${i}` })
      })()
      await promisify(execFile)('sqlite3', [file, `.backup '${copy}'`])
      sending = false
      await sender
      const liveLast = (await exec(live, 'roomHistoryInfo', 'kept')).lastMessageId

      fromCopy = await startServer([...FLAGS, ...sqliteFlags(copy)])
      assert.equal(await exec(fromCopy, 'roomGetOwner', 'kept'), 'alice')
      assert.deepEqual(await exec(fromCopy, 'roomGetAccessList', 'kept', 'blacklist'), ['eve'])
      assert.deepEqual(await exec(fromCopy, 'roomGetAccessList', 'kept', 'userlist'), [])
      const info = await exec(fromCopy, 'roomHistoryInfo', 'kept')
      assert.ok(info.lastMessageId >= 20 && info.lastMessageId <= liveLast, `${info.lastMessageId} of ${liveLast}`)
      const history = await exec(fromCopy, 'roomHistoryGet', 'kept', 0, 100000)
      const last = info.lastMessageId
      assert.deepEqual(history.map(m => m.id), [last, last - 1, last - 2, last - 3, last - 4], 'a consistent copy')
      assert.deepEqual(history.map(m => m.textMessage), history.map(m => `m${m.id}`))
    } finally {
      t.closeAll()
      await live.stop()
      if (fromCopy) await fromCopy.stop()
    }
  })
})

function hasPrlimit () {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** The size of `file` in bytes, 0 when it does not exist. */
function sizeOf (file) {
  return fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0
}

describe('SQLite state: a full disk', { skip: SKIP || (hasPrlimit() ? false : 'needs the prlimit command (util-linux)') }, () => {
  // A full disk without root: a file size limit (RLIMIT_FSIZE) set on the
  // running server at the size of its database file. The file cannot grow
  // any more, so the WAL cannot be copied into it (checkpoints fail) and
  // cannot be reused either: it fills up to that size, and then every
  // commit fails (EFBIG), as on a full disk. A limit well above the file
  // would not do: each checkpoint would make room in the WAL again.
  // Raising the limit is the disk getting room again.
  it('messages ack internalError and /health is 503 while nothing can be written, refused ones take no id; once writing works again it recovers by itself, and after a restart every acked message is there with ids 1..N', async () => {
    const file = tempDbPath('full')
    const flags = ['--admin-token', TOKEN, '--use-raw-error-objects', '--history-max-size', '100000',
      '--history-max-get-messages', '100000', ...sqliteFlags(file)]
    const t = clientSet()
    const room = 'full'
    const acked = new Map()
    const padding = 'x'.repeat(8000)
    let srv = await startServer(flags)
    const health = async () => (await fetch(`${srv.url}/health`, { signal: AbortSignal.timeout(5000) })).status
    try {
      // Some history, all of it in the database file once the server
      // stopped (its last connection checkpoints the WAL).
      await api(srv, 'addRoom', room)
      let alice = await t.login(srv.url, 'alice')
      await alice.ok('roomJoin', room)
      for (let i = 1; i <= 20; i++) {
        const text = `before ${i} ${padding}`
        acked.set(await alice.ok('roomMessage', room, { textMessage: text }), text)
      }
      t.closeAll()
      assert.equal(await srv.stop(), 0, srv.output())
      srv = await startServer(flags)
      alice = await t.login(srv.url, 'alice')
      await alice.ok('roomJoin', room)
      const limit = sizeOf(file)
      execFileSync('prlimit', ['--pid', String(srv.proc.pid), `--fsize=${limit}:unlimited`])

      // Each ack, or the server's death (SIGXFSZ kills a process that does
      // not catch it), whichever comes first.
      const died = srv.exited.then(({ code, signal }) => {
        throw new Error(`the server died (code ${code}, signal ${signal})\n${srv.output()}`)
      })
      died.catch(() => {})
      const send = text => Promise.race([alice.call('roomMessage', room, { textMessage: text }), died])
      let failure = null
      for (let n = 0; n < 2000 && !failure; n++) {
        const text = `${n} ${padding}`
        const [error, id] = await send(text)
        if (error) failure = error
        else acked.set(id, text)
      }
      const beforeFailure = acked.size - 20
      assert.ok(failure, `every message was acked under a ${limit}-byte file size limit`)
      assert.ok(beforeFailure > 0, 'the WAL took no message before it was full')
      assert.equal(failure.name, 'ChatServiceError')
      assert.equal(failure.code, 'internalError')
      assert.match(failure.args[0], /^Error: cannot write the SQLite database: /)
      assert.equal(await health(), 503)

      // Reads work; further changes are refused before they are made:
      // nothing more is kept in memory than what was in flight.
      const { lastMessageId } = await alice.ok('roomHistoryInfo', room)
      for (let i = 0; i < 5; i++) {
        const [error] = await send(`refused ${i}`)
        assert.equal(error?.code, 'internalError', `a message while the disk is full: ${JSON.stringify(error)}`)
      }
      assert.equal((await alice.ok('roomHistoryInfo', room)).lastMessageId, lastMessageId, 'refused messages took ids')
      const recent = await alice.ok('roomRecentHistory', room)
      assert.deepEqual(recent.map(m => m.id), Array.from({ length: lastMessageId }, (_, k) => lastMessageId - k),
        'the history answers every message kept, written or not')
      for (const [id, text] of acked) assert.equal(recent.find(m => m.id === id)?.textMessage, text, `acked message ${id}`)
      assert.equal(await health(), 503)

      // Room again: the server writes what it kept, by itself.
      execFileSync('prlimit', ['--pid', String(srv.proc.pid), '--fsize=unlimited:unlimited'])
      await eventually(async () => assert.equal(await health(), 200))
      const [error, next] = await send('after')
      assert.equal(error, null)
      assert.equal(next, lastMessageId + 1)
      acked.set(next, 'after')
      t.closeAll()
      assert.equal(await srv.stop(), 0, srv.output())

      srv = await startServer(flags)
      const info = await exec(srv, 'roomHistoryInfo', room)
      assert.equal(info.lastMessageId, next)
      const history = await exec(srv, 'roomHistoryGet', room, 0, info.lastMessageId)
      const ids = history.map(m => m.id).reverse()
      assert.deepEqual(ids, Array.from({ length: next }, (_, k) => k + 1), 'ids 1..N without gaps')
      const byId = new Map(history.map(m => [m.id, m.textMessage]))
      for (const [id, text] of acked) assert.equal(byId.get(id), text, `acked message ${id}`)
      console.log(`# a ${limit}-byte file size limit: ${beforeFailure} messages acked before the first failure, ` +
        `${next - acked.size} kept and written although their ack failed`)
    } finally {
      t.closeAll()
      await srv.stop()
    }
  })
})

describe('SQLite state: files the binary refuses (exit 2, one line naming --sqlite-path)', { skip: SKIP }, () => {
  it('a file that is not a database', async () => {
    const file = tempDbPath('text')
    fs.writeFileSync(file, 'hello, this is not a database\n'.repeat(200))
    assertRefused(await expectExit(sqliteFlags(file)), /not a chat-service database/)
    assert.equal(fs.readFileSync(file, 'utf8'), 'hello, this is not a database\n'.repeat(200), 'left as it was')
  })

  it('an SQLite database of another program, and one of a newer schema version', { skip: hasSqlite3() ? false : 'needs the sqlite3 command' }, async () => {
    const other = tempDbPath('other')
    execFileSync('sqlite3', [other, 'CREATE TABLE notes (text TEXT);'])
    assertRefused(await expectExit(sqliteFlags(other)), /not a chat-service database/)

    const newer = tempDbPath('newer')
    const srv = await startServer(sqliteFlags(newer))
    assert.equal(await srv.stop(), 0)
    const version = Number(execFileSync('sqlite3', [newer, 'PRAGMA user_version;'], { encoding: 'utf8' }).trim())
    assert.ok(version >= 1, `user_version ${version}`)
    execFileSync('sqlite3', [newer, `PRAGMA user_version = ${version + 1};`])
    assertRefused(await expectExit(sqliteFlags(newer)), new RegExp(`schema version ${version + 1} is newer`))
  })

  it('a second server on the same file; the file is free again once the first stopped', async () => {
    const file = tempDbPath('shared')
    const first = await startServer(sqliteFlags(file))
    try {
      assertRefused(await expectExit(sqliteFlags(file)), /in use by another chat-service process/)
    } finally {
      assert.equal(await first.stop(), 0)
    }
    const again = await startServer(sqliteFlags(file))
    assert.equal(await again.stop(), 0)
  })

  it('a directory that does not exist', async () => {
    const file = `${tempDbPath('missing')}.d/nowhere/chat.db`
    assertRefused(await expectExit(sqliteFlags(file)), /cannot open/)
  })
})

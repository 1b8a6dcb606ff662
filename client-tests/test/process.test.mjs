// The binary as a process: graceful shutdown (interface.md 1, protocol.md
// 12.2, 15.23), bad configuration exits (interface.md 1, 5, 6), config
// sources.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startServer, expectExit, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

describe('graceful shutdown on SIGTERM', () => {
  it('connected clients see a disconnect ("transport close"), the process exits 0 within close-timeout', async () => {
    const closeTimeout = 3000
    const s = await startServer(['--enable-rooms-management', '--close-timeout', String(closeTimeout)])
    const t = clientSet()
    try {
      const user = uniq('u')
      const a = await t.login(s.url, user)
      const b = await t.login(s.url, user)
      const c = await t.login(s.url, uniq('v'))
      const room = uniq('room')
      await a.ok('roomCreate', room, false)
      await a.ok('roomJoin', room)
      await c.ok('roomJoin', room)
      const started = Date.now()
      const code = await s.stop(closeTimeout + 10000)
      const took = Date.now() - started
      assert.equal(code, 0, s.output())
      assert.ok(took < closeTimeout + 2000, `exit took ${took} ms`)
      for (const cl of [a, b, c]) {
        const [reason] = await cl.next('disconnect')
        assert.equal(reason, 'transport close')
      }
    } finally {
      t.closeAll()
      await s.stop()
    }
  })

  it('SIGINT too; with no clients the exit is prompt', async () => {
    const s = await startServer()
    const started = Date.now()
    s.proc.kill('SIGINT')
    const { code } = await s.exited
    assert.equal(code, 0, s.output())
    assert.ok(Date.now() - started < 5000)
  })
})

describe('bad configuration exits 2 with a one-line message naming the option', { skip: OURS_ONLY }, () => {
  async function bad (flags, optionPattern, env = {}) {
    const r = await expectExit(flags, { env })
    assert.equal(r.listened, false, `it started with ${flags.join(' ')}`)
    assert.equal(r.code, 2, `exit code for ${flags.join(' ')}: ${r.code}\n${r.stderr}${r.stdout}`)
    const lines = (r.stderr + r.stdout).split('\n').filter(l => optionPattern.test(l))
    assert.ok(lines.length >= 1, `no line naming ${optionPattern} in:\n${r.stderr}${r.stdout}`)
  }

  it('unknown flag', async () => {
    await bad(['--no-such-flag'], /no-such-flag/)
  })

  it('zero timeouts and rates', async () => {
    await bad(['--close-timeout', '0'], /close-timeout|close_timeout/)
    await bad(['--heartbeat-rate', '0'], /heartbeat-rate|heartbeat_rate/)
    await bad(['--heartbeat-timeout', '0'], /heartbeat-timeout|heartbeat_timeout/)
    await bad(['--bus-ack-timeout', '0'], /bus-ack-timeout|bus_ack_timeout/)
    await bad(['--lock-ttl', '0'], /lock-ttl|lock_ttl/)
  })

  it('bad values', async () => {
    await bad(['--history-max-size', 'abc'], /history-max-size|history_max_size/)
    await bad(['--port', 'http'], /port/)
    await bad(['--state', 'mongo'], /state/)
    await bad(['--auth', 'ldap'], /auth/)
  })

  it('--auth jwt without a key', async () => {
    await bad(['--auth', 'jwt'], /jwt/)
  })

  it('a zero from the environment is rejected too', async () => {
    await bad([], /close-timeout|close_timeout|CLOSE_TIMEOUT/, { CHAT_SERVICE_CLOSE_TIMEOUT: '0' })
  })
})

describe('configuration sources (interface.md 1)', { skip: OURS_ONLY }, () => {
  async function maxGet (flags, env) {
    const s = await startServer(flags, { env })
    const t = clientSet()
    try {
      const a = await t.login(s.url, uniq('u'))
      const room = uniq('room')
      await a.ok('roomCreate', room, false)
      await a.ok('roomJoin', room)
      return (await a.ok('roomHistoryInfo', room)).historyMaxGetMessages
    } finally {
      t.closeAll()
      await s.stop()
    }
  }

  it('TOML file < environment < flag', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-config-'))
    const file = path.join(dir, 'config.toml')
    fs.writeFileSync(file, 'enable_rooms_management = true\nhistory_max_get_messages = 3\n')
    try {
      assert.equal(await maxGet(['--config', file]), 3)
      assert.equal(await maxGet(['--config', file], { CHAT_SERVICE_HISTORY_MAX_GET_MESSAGES: '4' }), 4)
      assert.equal(await maxGet(['--config', file, '--history-max-get-messages', '5'],
        { CHAT_SERVICE_HISTORY_MAX_GET_MESSAGES: '4' }), 5)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

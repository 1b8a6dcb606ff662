// A redis-server of a test's own (e.g. to stop and restart it mid-test):
// a free loopback port, no persistence, a temporary directory.
//
//   const r = await startRedis()   // {port, url, stop(), kill(), restart()}
//   await r.stop()                 // `SHUTDOWN NOSAVE` (SIGKILL if that fails)
//   await r.restart()              // a new, empty server on the same port
//
// Every server started here is also killed when the test process exits.
import { spawn, execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const live = new Set()
process.once('exit', () => {
  for (const proc of live) {
    try { proc.kill('SIGKILL') } catch {}
  }
})

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Resolves true if 127.0.0.1:port answers PING with PONG within `timeout` ms. */
export function ping (port, timeout = 1000) {
  return new Promise(resolve => {
    const sock = net.connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (v) => { clearTimeout(timer); sock.destroy(); resolve(v) }
    const timer = setTimeout(() => done(false), timeout)
    sock.once('error', () => done(false))
    sock.once('connect', () => sock.write('PING\r\n'))
    sock.on('data', d => {
      buf += d
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'))
    })
  })
}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

/** Spawns redis-server on `port` and waits (at most 10 s) until it answers PING. */
async function spawnRedis (port, dir) {
  const proc = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.setEncoding('utf8')
  proc.stdout.on('data', d => { out += d })
  proc.stderr.setEncoding('utf8')
  proc.stderr.on('data', d => { out += d })
  const exited = new Promise(resolve => proc.once('exit', resolve))
  let spawnError = null
  proc.once('error', e => { spawnError = e })
  live.add(proc)
  exited.then(() => live.delete(proc))
  const deadline = Date.now() + 10000
  while (!(await ping(port, 500))) {
    if (spawnError) throw new Error(`cannot run redis-server: ${spawnError.message}`)
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited:\n${out}`)
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s:\n${out}`)
    }
    await sleep(50)
  }
  return { proc, exited }
}

/** Starts a redis-server of the caller's own (see the top of this file). */
export async function startRedis () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-test-redis-'))
  let port = await freePort()
  let current
  for (let attempt = 1; ; attempt++) {
    try {
      current = await spawnRedis(port, dir)
      break
    } catch (e) {
      if (attempt >= 3) throw e
      port = await freePort()
    }
  }
  const r = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running () { return current !== null },
    /** SHUTDOWN NOSAVE through redis-cli; SIGKILL if it is not gone in 5 s. */
    async stop () {
      if (!current) return
      const { proc, exited } = current
      current = null
      try {
        await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown', 'nosave'], { timeout: 5000 })
      } catch {
        // redis-cli reports the dropped connection of a successful shutdown as an error
      }
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
    /** SIGKILL, as a crash. */
    async kill () {
      if (!current) return
      const { proc, exited } = current
      current = null
      proc.kill('SIGKILL')
      await exited
    },
    /** A new (empty) server on the same port. */
    async restart () {
      await r.stop()
      current = await spawnRedis(port, dir)
    },
    /** Runs a command through redis-cli; resolves with its output. */
    async cli (...args) {
      const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 })
      return stdout
    },
    /** Commands run since the last `CONFIG RESETSTAT`: {command: calls}. */
    async commandCalls () {
      const calls = {}
      for (const line of (await r.cli('INFO', 'commandstats')).split('\n')) {
        const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
        if (m) calls[m[1]] = Number(m[2])
      }
      return calls
    },
    /**
     * Watches every command with MONITOR until `stop()`, which resolves
     * with the commands clients sent (`round trips`: {command: count}) and
     * those scripts ran inside Redis (`inScripts`), apart.
     */
    async monitor () {
      const proc = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] })
      live.add(proc)
      const counts = { roundTrips: {}, inScripts: {} }
      // MONITOR shows commands in the order Redis runs them: an ECHO of a
      // marker marks the end of everything sent before stop().
      const marker = `end-of-monitor-${process.pid}-${Math.random()}`
      let ended
      const end = new Promise(resolve => { ended = resolve })
      let buf = ''
      let ready
      const started = new Promise((resolve, reject) => {
        ready = resolve
        setTimeout(() => reject(new Error('MONITOR did not start within 5 s')), 5000).unref()
      })
      proc.stdout.setEncoding('utf8')
      proc.stdout.on('data', d => {
        buf += d
        let nl
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          if (line.trim() === 'OK') { ready(); continue }
          const m = /^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line)
          if (!m) continue
          const cmd = m[2].toLowerCase()
          if (cmd === 'echo' && line.includes(marker)) { ended(); continue }
          const bucket = m[1] === 'lua' ? counts.inScripts : counts.roundTrips
          bucket[cmd] = (bucket[cmd] || 0) + 1
        }
      })
      await started
      return {
        async stop () {
          await r.cli('ECHO', marker)
          let timer
          const late = new Promise((resolve, reject) => {
            timer = setTimeout(() => reject(new Error('MONITOR did not show the end marker within 5 s')), 5000)
          })
          try {
            await Promise.race([end, late])
          } finally {
            clearTimeout(timer)
            proc.kill()
          }
          return counts
        }
      }
    },
    /** Stops it and removes its directory. */
    async close () {
      await r.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  return r
}

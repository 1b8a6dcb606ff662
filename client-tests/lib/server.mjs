// Spawns the chat-service binary under test and waits for its
// "chat-service listening on http://HOST:PORT" line.
//
// Environment:
//   CHAT_SERVICE_BIN     path of the binary (default ../target/release/chat-service
//                        relative to client-tests). A path ending in .js/.mjs/.cjs
//                        is run with the current node (used for the scratch
//                        launcher of the original Node.js server).
//   CHAT_SERVICE_TARGET  "original" when CHAT_SERVICE_BIN is the original
//                        server: tests that only our binary can pass are skipped
//                        and every client defaults to socket.io-client 2.
//   CLIENT_VERSION       2 or 4: force every client to that socket.io-client.
//   CHAT_SERVICE_STATE   "sqlite" (default, the binary's default), "memory" or
//                        "redis": every server started here gets `--state
//                        memory`, `--state sqlite --sqlite-path <a new file in
//                        a temp dir>` (a database of its own) or `--state redis
//                        --redis-url $CHAT_SERVICE_REDIS_URL --redis-prefix
//                        <unique>` (plus `--redis-cluster` when
//                        CHAT_SERVICE_REDIS_CLUSTER=1), unless its flags
//                        already choose a `--state`. (A server started without
//                        a state flag would open chat-service.db in its working
//                        directory, and a second one there would exit 2.)
//   CHAT_SERVICE_REDIS_URL      the Redis for that mode (and for cluster.test.mjs).
//   CHAT_SERVICE_REDIS_CLUSTER  1: that URL is a Redis Cluster node list.
// These variables are also the binary's own environment names; they are
// not passed on to the spawned servers, so the mode is always explicit in
// their flags.
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const CLIENT_TESTS_DIR = path.resolve(here, '..')
export const BIN = process.env.CHAT_SERVICE_BIN
  ? path.resolve(process.env.CHAT_SERVICE_BIN)
  : path.resolve(CLIENT_TESTS_DIR, '..', 'target', 'release', 'chat-service')

/** True when the suite runs against the original Node.js server. */
export const ORIGINAL = process.env.CHAT_SERVICE_TARGET === 'original'
/** Skip reason for tests only our binary can pass (use as `{ skip: OURS_ONLY }`). */
export const OURS_ONLY = ORIGINAL ? 'needs the Rust binary (not in the original)' : false
/**
 * Skip reason for admin API / health tests. The original has no HTTP admin
 * API; a launcher that emulates it over the original's ServiceAPI (used to
 * validate results and error values) sets CHAT_SERVICE_EMULATED_ADMIN=1.
 */
export const ADMIN_SKIP = ORIGINAL && process.env.CHAT_SERVICE_EMULATED_ADMIN !== '1'
  ? 'needs the Rust binary (the original has no HTTP admin API)'
  : false

const truthy = (v) => v !== undefined && !['', '0', 'false', 'no', 'off'].includes(v.toLowerCase())

/** "sqlite", "memory" or "redis": the state every server of the suite uses. */
export const STATE = process.env.CHAT_SERVICE_STATE || 'sqlite'
if (!['sqlite', 'memory', 'redis'].includes(STATE)) {
  throw new Error(`CHAT_SERVICE_STATE must be sqlite, memory or redis, got ${STATE}`)
}
/** The Redis to test with (a URL, or with REDIS_CLUSTER a node list), or null. */
export const REDIS_URL = process.env.CHAT_SERVICE_REDIS_URL || null
/** True when REDIS_URL is a Redis Cluster. */
export const REDIS_CLUSTER = truthy(process.env.CHAT_SERVICE_REDIS_CLUSTER)
if (STATE === 'redis' && !REDIS_URL) {
  throw new Error('CHAT_SERVICE_STATE=redis needs CHAT_SERVICE_REDIS_URL (scripts/test.sh starts a redis-server)')
}
/** Skip reason for tests that only make sense with the memory state. */
export const MEMORY_ONLY = STATE === 'redis' ? 'memory state only (CHAT_SERVICE_STATE=redis)' : false

let prefixes = 0
/** A Redis key prefix no other server of any test process uses. */
export function uniquePrefix (tag = 'cs') {
  prefixes += 1
  return `${tag}-${process.pid}-${prefixes}-${crypto.randomBytes(4).toString('hex')}`
}

/**
 * The flags that put a server on the test Redis (REDIS_URL) with key
 * prefix `prefix` (default: a fresh one, i.e. a server of its own).
 */
export function redisFlags (prefix = uniquePrefix()) {
  if (!REDIS_URL) throw new Error('redisFlags() needs CHAT_SERVICE_REDIS_URL')
  return ['--state', 'redis', '--redis-url', REDIS_URL, ...(REDIS_CLUSTER ? ['--redis-cluster'] : []),
    '--redis-prefix', prefix]
}

let tempDir = null
let tempFiles = 0
/**
 * A new path in this test process's temp directory (removed when the
 * process exits), for an SQLite database of one server: `<dir>/<tag>-<n>.db`.
 */
export function tempDbPath (tag = 'chat') {
  if (!tempDir) {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-service-tests-'))
    process.once('exit', () => fs.rmSync(tempDir, { recursive: true, force: true }))
  }
  tempFiles += 1
  return path.join(tempDir, `${tag}-${tempFiles}.db`)
}

/** The flags that put a server on the SQLite file `file` (default: a new one). */
export function sqliteFlags (file = tempDbPath()) {
  return ['--state', 'sqlite', '--sqlite-path', file]
}

/** `flags` plus the suite's state flags (none if `flags` choose a state). */
function withStateFlags (flags) {
  if (flags.includes('--state')) return flags
  switch (STATE) {
    case 'redis': return [...flags, ...redisFlags()]
    case 'sqlite': return [...flags, ...sqliteFlags()]
    default: return [...flags, '--state', 'memory']
  }
}

/** The test-mode variables, which are the binary's own names too. */
const MODE_ENV = ['CHAT_SERVICE_STATE', 'CHAT_SERVICE_REDIS_URL', 'CHAT_SERVICE_REDIS_CLUSTER', 'CHAT_SERVICE_REDIS_PREFIX',
  'CHAT_SERVICE_SQLITE_PATH', 'CHAT_SERVICE_SQLITE_SYNCHRONOUS']

const START_TIMEOUT = Number(process.env.CHAT_SERVICE_START_TIMEOUT || 20000)
const LISTEN_RE = /chat-service listening on (http:\/\/([^\s:]+):(\d+))/

function command (flags) {
  const args = ['--host', '127.0.0.1', '--port', '0', ...flags]
  if (/\.(c|m)?js$/.test(BIN)) return [process.execPath, [BIN, ...args]]
  return [BIN, args]
}

function childEnv (env) {
  const inherited = { ...process.env }
  for (const name of MODE_ENV) delete inherited[name]
  return { RUST_LOG: 'warn', ...inherited, ...env }
}

function spawnBin (args, env) {
  const [cmd, argv] = command(args)
  return spawn(cmd, argv, {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
}

/**
 * Starts a server (with the suite's state flags, see STATE). Resolves
 * `{url, port, flags, proc, exited, stop(), output()}`.
 * `stop()` sends SIGTERM and resolves with the exit code (SIGKILL after
 * `killAfter` ms; then resolves with null).
 */
export function startServer (flags = [], { env = {} } = {}) {
  flags = withStateFlags(flags)
  return new Promise((resolve, reject) => {
    const proc = spawnBin(flags, env)
    let stdout = ''
    let stderr = ''
    let done = false
    const exited = new Promise(res => proc.once('exit', (code, signal) => res({ code, signal })))
    const output = () => `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`
    const fail = (msg) => {
      if (done) return
      done = true
      clearTimeout(timer)
      proc.kill('SIGKILL')
      reject(new Error(`${msg}\ncommand: ${command(flags).flat().join(' ')}\n${output()}`))
    }
    const timer = setTimeout(() => fail(`server did not print its listening line within ${START_TIMEOUT} ms`), START_TIMEOUT)
    proc.on('error', e => fail(`cannot spawn ${BIN}: ${e.message}`))
    proc.stderr.setEncoding('utf8')
    proc.stderr.on('data', d => { stderr += d })
    proc.stdout.setEncoding('utf8')
    proc.stdout.on('data', d => {
      stdout += d
      if (done) return
      const m = LISTEN_RE.exec(stdout)
      if (m) {
        done = true
        clearTimeout(timer)
        const port = Number(m[3])
        const url = `http://127.0.0.1:${port}`
        let stopping = null
        resolve({
          url,
          port,
          flags,
          proc,
          exited,
          output,
          stop (killAfter = 20000) {
            if (stopping) return stopping
            stopping = (async () => {
              if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode
              proc.kill('SIGTERM')
              let t
              const r = await Promise.race([
                exited,
                new Promise(res => { t = setTimeout(() => res(null), killAfter) })
              ])
              clearTimeout(t)
              if (r === null) {
                proc.kill('SIGKILL')
                await exited
                return null
              }
              return r.code
            })()
            return stopping
          }
        })
      }
    })
    proc.once('exit', (code, signal) => fail(`server exited early (code ${code}, signal ${signal})`))
  })
}

/**
 * Runs the binary with flags expected to be rejected. Resolves
 * `{code, signal, stdout, stderr, listened}` (listened: it printed the
 * listening line, i.e. it did NOT reject the configuration).
 */
export function expectExit (flags = [], { env = {}, timeout = 10000 } = {}) {
  flags = withStateFlags(flags)
  return new Promise((resolve, reject) => {
    const proc = spawnBin(flags, env)
    let stdout = ''
    let stderr = ''
    let listened = false
    proc.stdout.setEncoding('utf8')
    proc.stderr.setEncoding('utf8')
    proc.stdout.on('data', d => {
      stdout += d
      if (!listened && LISTEN_RE.test(stdout)) {
        listened = true
        proc.kill('SIGKILL')
      }
    })
    proc.stderr.on('data', d => { stderr += d })
    proc.on('error', reject)
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
    }, timeout)
    proc.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, listened })
    })
  })
}

/**
 * Helper for a test file: `const srv = useServer(flags)` registers
 * before/after hooks; `srv.url` etc. are available inside tests.
 */
export function useServer (before, after, flags = [], opts = {}) {
  const holder = {}
  before(async () => {
    const s = await startServer(flags, opts)
    Object.assign(holder, s)
    holder.server = s
  })
  after(async () => {
    if (!holder.server) return
    const code = await holder.server.stop()
    // a graceful stop (SIGTERM) exits 0 (interface.md 1, 6)
    if (code !== 0) {
      throw new Error(`server ${flags.join(' ')} exited with ${code} on SIGTERM\n${holder.server.output()}`)
    }
  })
  return holder
}

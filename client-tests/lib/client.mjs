// socket.io client wrapper for the chat-service tests.
//
// Every server event is buffered from connect time in a per-event queue,
// so `next(event)` never misses an event that arrived before it was
// called. Every wait has a timeout that fails the test instead of
// hanging. A global ordered log (events and acks) allows order checks.
import { io as io4 } from 'socket.io-client'
import io2 from 'socket.io-client-v2'
import { ORIGINAL, STATE } from './server.mjs'

export const DEFAULT_TIMEOUT = Number(process.env.TEST_EVENT_TIMEOUT || 5000)
export const NAMESPACE = process.env.CHAT_SERVICE_NAMESPACE || '/chat-service'

const FORCED_VERSION = process.env.CLIENT_VERSION ? Number(process.env.CLIENT_VERSION) : null
if (FORCED_VERSION !== null && FORCED_VERSION !== 2 && FORCED_VERSION !== 4) {
  throw new Error(`CLIENT_VERSION must be 2 or 4, got ${process.env.CLIENT_VERSION}`)
}
export const DEFAULT_VERSION = FORCED_VERSION ?? (ORIGINAL ? 2 : 4)
/** Skip reason for tests that need socket.io-client 4 (auth payload etc.). */
export const V4_ONLY = ORIGINAL
  ? 'needs the Rust binary (not in the original)'
  : (FORCED_VERSION === 2 ? 'needs socket.io-client 4 (CLIENT_VERSION=2)' : false)

/**
 * Server -> client events of protocol.md section 6 (and this server's
 * `conversations`, which 2.x clients must listen for before it arrives).
 */
export const SERVER_EVENTS = [
  'loginConfirmed', 'loginRejected',
  'socketConnectEcho', 'socketDisconnectEcho',
  'roomJoinedEcho', 'roomLeftEcho',
  'roomUserJoined', 'roomUserLeft',
  'roomMessage', 'roomAccessRemoved',
  'roomAccessListAdded', 'roomAccessListRemoved', 'roomModeChanged',
  'directMessage', 'directMessageEcho', 'systemMessage', 'conversations'
]
const LIFECYCLE_EVENTS = ['connect', 'disconnect', 'connect_error', 'error']

let counter = 0
/** A unique, valid user/room name for this test process. */
export function uniq (prefix = 'n') {
  counter += 1
  return `${prefix}${counter}x${process.pid % 10000}`
}

export class LoginRejectedError extends Error {
  constructor (error) {
    super(`loginRejected: ${typeof error === 'string' ? error : JSON.stringify(error)}`)
    this.loginError = error
  }
}

function describe (args) {
  try { return JSON.stringify(args) } catch { return String(args) }
}

export class Client {
  constructor (url, user, opts = {}) {
    const {
      version = DEFAULT_VERSION,
      transports,
      query,
      auth,
      namespace = NAMESPACE,
      extraHeaders
    } = opts
    this.version = FORCED_VERSION ?? version
    this.user = user
    this.queues = new Map()
    this.waiters = []
    this.log = []
    this.id = null
    this.userName = null
    this.authData = null
    const q = { ...(query || {}) }
    if (user !== undefined && user !== null) q.user = user
    const common = {
      forceNew: true,
      reconnection: false,
      timeout: 10000
    }
    if (transports) common.transports = transports
    if (Object.keys(q).length > 0) common.query = q
    if (extraHeaders) common.extraHeaders = extraHeaders
    if (this.version === 2) {
      if (auth !== undefined) throw new Error('auth payload needs socket.io-client 4')
      this.socket = io2(url + namespace, common)
    } else {
      if (auth !== undefined) common.auth = auth
      this.socket = io4(url + namespace, common)
    }
    const known = this.known = new Set([...SERVER_EVENTS, ...LIFECYCLE_EVENTS])
    for (const ev of SERVER_EVENTS) {
      this.socket.on(ev, (...args) => this._push(ev, args))
    }
    // lifecycle events keep their first argument only (v4 adds a details
    // argument to 'disconnect' that v2 does not have)
    for (const ev of LIFECYCLE_EVENTS) {
      this.socket.on(ev, (arg) => this._push(ev, arg === undefined ? [] : [arg]))
    }
    if (this.version === 4) {
      this.socket.onAny((ev, ...args) => {
        if (!known.has(ev)) this._push(ev, args)
      })
    }
  }

  /**
   * Queues the application's own `event` (pushed by the server) for
   * `next`; 4.x clients queue unknown events anyway, 2.x ones only so.
   */
  watch (event) {
    if (this.known.has(event)) return this
    this.known.add(event)
    this.socket.on(event, (...args) => this._push(event, args))
    return this
  }

  _push (event, args) {
    this.log.push({ event, args })
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]
      if (w.events.includes(event) && w.filter(...args)) {
        this.waiters.splice(i, 1)
        clearTimeout(w.timer)
        w.resolve({ event, args })
        return
      }
    }
    if (!this.queues.has(event)) this.queues.set(event, [])
    this.queues.get(event).push(args)
  }

  /** Current position in the ordered log (see `eventsSince`). */
  mark () { return this.log.length }

  /** Names of events (and `ack:<cmd>` entries) logged since `mark`. */
  eventsSince (mark, { withArgs = false } = {}) {
    const l = this.log.slice(mark)
    return withArgs ? l : l.map(e => e.event)
  }

  /**
   * Resolves `{event, args}` for the first buffered or next arriving
   * event among `events` (and passing `filter`), consuming it.
   */
  nextAny (events, { timeout = DEFAULT_TIMEOUT, filter = () => true } = {}) {
    for (const ev of events) {
      const q = this.queues.get(ev)
      if (!q) continue
      const i = q.findIndex(args => filter(...args))
      if (i >= 0) {
        const [args] = q.splice(i, 1)
        return Promise.resolve({ event: ev, args })
      }
    }
    const err = new Error(`${this.user ?? '(no user)'}: timed out after ${timeout} ms waiting for ${events.join('|')}` +
      `; buffered: ${describe(Object.fromEntries(this.queues))}`)
    return new Promise((resolve, reject) => {
      const w = { events, filter, resolve, reject: null }
      w.timer = setTimeout(() => {
        const i = this.waiters.indexOf(w)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(err)
      }, timeout)
      this.waiters.push(w)
    })
  }

  /** Resolves with the args array of the next `event` (buffered). */
  async next (event, opts = {}) {
    const { args } = await this.nextAny([event], opts)
    return args
  }

  /** Buffered events of that name not consumed yet. */
  pending (event) {
    return (this.queues.get(event) || []).slice()
  }

  /** Drops buffered events (all, or of one name). */
  clear (event) {
    if (event) this.queues.delete(event)
    else this.queues.clear()
  }

  /**
   * Asserts that no `event` (passing `filter`) is buffered or arrives
   * within `ms`. Does not consume anything.
   */
  async noEvent (event, ms = 300, filter = () => true) {
    const check = () => {
      const got = (this.queues.get(event) || []).filter(a => filter(...a))
      if (got.length > 0) {
        throw new Error(`${this.user}: unexpected ${event} ${describe(got)}`)
      }
    }
    check()
    await new Promise(resolve => setTimeout(resolve, ms))
    check()
  }

  /** Waits for socket.io's `connect`. */
  async connected (timeout = DEFAULT_TIMEOUT) {
    if (this.socket.connected) return
    const { event, args } = await this.nextAny(['connect', 'connect_error', 'error'], { timeout })
    if (event !== 'connect') throw new Error(`connect failed: ${event} ${describe(args)}`)
  }

  /**
   * Waits for loginConfirmed (resolves `{userName, authData}`) or
   * loginRejected (rejects with LoginRejectedError, `.loginError` is the
   * error as sent).
   */
  async login (timeout = DEFAULT_TIMEOUT) {
    const { event, args } = await this.nextAny(['loginConfirmed', 'loginRejected'], { timeout })
    if (event === 'loginRejected') throw new LoginRejectedError(args[0])
    const [userName, authData] = args
    this.userName = userName
    this.authData = authData
    this.id = authData && authData.id
    return { userName, authData }
  }

  /** Waits for loginRejected and resolves with the error value. */
  async loginRejected (timeout = DEFAULT_TIMEOUT) {
    const { event, args } = await this.nextAny(['loginConfirmed', 'loginRejected'], { timeout })
    if (event === 'loginConfirmed') {
      throw new Error(`expected loginRejected, got loginConfirmed ${describe(args)}`)
    }
    return args[0]
  }

  /**
   * Sends a command with an ack; resolves with the full ack argument
   * array `[error, ...data]`. Rejects (fails the test) after `timeout`.
   */
  callT (timeout, cmd, ...args) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.user}: no ack for ${cmd}${describe(args)} within ${timeout} ms`))
      }, timeout)
      this.socket.emit(cmd, ...args, (...ack) => {
        clearTimeout(timer)
        this.log.push({ event: `ack:${cmd}`, args: ack })
        resolve(ack)
      })
    })
  }

  call (cmd, ...args) {
    return this.callT(DEFAULT_TIMEOUT, cmd, ...args)
  }

  /** Calls and asserts success; resolves with the data (ack[1]). */
  async ok (cmd, ...args) {
    const ack = await this.call(cmd, ...args)
    if (ack[0] !== null) {
      throw new Error(`${this.user}: ${cmd}${describe(args)} failed: ${describe(ack[0])}`)
    }
    return ack[1]
  }

  /** Calls and resolves with the error (ack[0]); fails on success. */
  async err (cmd, ...args) {
    const ack = await this.call(cmd, ...args)
    if (ack[0] === null || ack[0] === undefined) {
      throw new Error(`${this.user}: ${cmd}${describe(args)} unexpectedly succeeded: ${describe(ack)}`)
    }
    return ack[0]
  }

  /**
   * Sends a command with an ack callback and asserts that the callback
   * does NOT fire within `ms`.
   */
  async noAck (ms, cmd, ...args) {
    let fired = null
    this.socket.emit(cmd, ...args, (...ack) => { fired = ack })
    await new Promise(resolve => setTimeout(resolve, ms))
    if (fired) throw new Error(`${this.user}: unexpected ack for ${cmd}: ${describe(fired)}`)
  }

  /** Fire-and-forget emit (no ack callback). */
  send (cmd, ...args) {
    this.socket.emit(cmd, ...args)
  }

  get connectedNow () { return this.socket.connected }

  /** Transport name currently used ("polling" / "websocket"). */
  get transportName () {
    const engine = this.version === 2 ? this.socket.io.engine : this.socket.io.engine
    return engine && engine.transport && engine.transport.name
  }

  close () {
    try { this.socket.disconnect() } catch {}
    try { this.socket.io.engine && this.socket.io.engine.close() } catch {}
    for (const w of this.waiters) clearTimeout(w.timer)
    this.waiters = []
  }
}

export function connect (url, user, opts = {}) {
  return new Client(url, user, opts)
}

/** Connects and waits for loginConfirmed. */
export async function loggedIn (url, user, opts = {}) {
  const c = new Client(url, user, opts)
  try {
    await c.login()
  } catch (e) {
    c.close()
    throw e
  }
  return c
}

/**
 * Tracks clients of a test so they are all closed at the end:
 * `const t = clients(); const a = await t.login(url, 'u1'); ... t.closeAll()`.
 */
export function clientSet () {
  const list = []
  return {
    list,
    connect (url, user, opts) {
      const c = connect(url, user, opts)
      list.push(c)
      return c
    },
    async login (url, user, opts) {
      const c = connect(url, user, opts)
      list.push(c)
      await c.login()
      return c
    },
    closeAll () {
      for (const c of list.splice(0)) c.close()
    }
  }
}

/**
 * Access lists and userlists keep insertion order in the memory state and
 * none with Redis (protocol.md 5.1): compare both sides through this, so
 * the memory run still checks the order.
 */
export function unorderedWithRedis (list) {
  return STATE === 'redis' && Array.isArray(list) ? [...list].sort() : list
}

/**
 * Retries `check` (an async assertion) until it passes or `timeout` ms
 * have passed (then its last failure is thrown): for state that changes
 * without an event a client can wait for (another instance's view, a
 * server's health).
 */
export async function eventually (check, { timeout = 10000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    try {
      return await check()
    } catch (e) {
      if (Date.now() > deadline) throw e
    }
    await sleep(interval) // poll interval, not a wait for time to pass
  }
}

/** Milliseconds sleep — only for short absence windows. */
export function sleep (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

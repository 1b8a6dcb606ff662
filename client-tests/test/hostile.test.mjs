// Hostile clients (protocol.md 2.1, 2.2, 3.1, 5): whatever a logged-in
// client sends, every request with an ack callback gets exactly one ack
// and its socket stays open; an unknown event gets no reply and does not
// close the socket either. For socket.io-client 4 and 2.
//
// 1. Specific hostile inputs. Each case runs on a fresh socket (a fresh
//    user, so cases run concurrently without seeing each other) and
//    asserts: the ack arrives, has a sensible value, no second ack packet
//    for the same id ever arrives (counted on the wire, the client
//    libraries drop a duplicate silently), no ack arrives for an id never
//    sent or for an unknown event, no 'disconnect' was seen, and one more
//    round trip (`listOwnSockets`) is acked afterwards.
// 2. A seeded fuzz over the 24 commands and unknown event names (FUZZ_SEED,
//    FUZZ_REQUESTS per client generation, default 3000). Failures are
//    replayed one request at a time on a fresh socket and printed as
//    minimal reproducers.
// 3. The server wrote no WARN or ERROR line while this ran (lines of its
//    start, such as the `--auth query` warning, are not counted).
//
// Lone surrogates: both clients send strings through JSON.stringify, which
// writes a lone UTF-16 surrogate as a `\udXXX` escape. That is valid JSON
// but not a Unicode scalar value. The server replaces each lone surrogate
// by U+FFFD on input, wherever it is (arguments, nested values, object
// keys, event names): `roomCreate('x\ud800y', false)` creates the room
// 'x\ufffdy', `roomJoin('x\ud800y')` joins it and every reply and
// notification names it 'x\ufffdy'. A valid pair ('\ud83d\ude00') is one
// character and is kept.
//
// How the inputs are sent: through the client library's emit; event names
// a library refuses (v4 throws on 'connect', 'disconnect', ...; v2 emits
// 'connect', 'error', 'ping', ... locally) as hand-made packets through its
// packet encoder; values JSON.stringify cannot make (1e400, nesting 100000
// deep, duplicated keys, escaped names) as JSON text written to the
// Engine.IO connection. Client-library limits respected on purpose: at most
// 10 binary attachments per packet (socket.io-parser's maxAttachments, a
// client receiving more drops the connection), and socket.io-client 2
// sends a Uint8Array as a JSON object ({"0":1,...}), not as binary.
// Where the right answer is open (values nested deeper than 128, numbers
// beyond the double range, duplicated keys) any success or badArgument
// ack passes; an ack must come all the same.
//
// Environment: FUZZ_SEED (default 20261205), FUZZ_REQUESTS (default 3000 per
// client generation), FUZZ_SOCKETS_PER_USER, FUZZ_ACK_TIMEOUT and
// HOSTILE_ACK_TIMEOUT (ms; default min(TEST_EVENT_TIMEOUT, 3000)),
// HOSTILE_SERVER_LOG (a file the servers' whole output is appended to; set
// RUST_LOG=debug to see more than warnings).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { useServer, OURS_ONLY } from '../lib/server.mjs'
import { connect, uniq, DEFAULT_TIMEOUT, NAMESPACE, V4_ONLY, sleep, unorderedWithRedis } from '../lib/client.mjs'

const P = 'ChatServiceError: '
const FLAGS = ['--enable-rooms-management', '--enable-direct-messages', '--enable-userlist-updates']
const ACK_TIMEOUT = Number(process.env.HOSTILE_ACK_TIMEOUT || Math.min(DEFAULT_TIMEOUT, 3000))
const GENERATIONS = [
  { version: 4, skip: V4_ONLY },
  { version: 2, skip: process.env.CLIENT_VERSION === '4' ? 'CLIENT_VERSION=4 forces v4 clients' : false }
]

// Event names each client library refuses to send (v4 throws, v2 emits
// them locally): those go out as hand-made packets through the library's
// packet encoder instead.
const LOCAL_V2 = new Set(['connect', 'connect_error', 'connect_timeout', 'connecting', 'disconnect', 'error',
  'reconnect', 'reconnect_attempt', 'reconnect_failed', 'reconnect_error', 'reconnecting', 'ping', 'pong'])
const RAW_ID_BASE = 1000000

const COMMANDS = {
  directAddToList: ['str', 'str[]'],
  directGetAccessList: ['str'],
  directGetWhitelistMode: [],
  directMessage: ['str', 'msg'],
  directRemoveFromList: ['str', 'str[]'],
  directSetWhitelistMode: ['bool'],
  listOwnSockets: [],
  roomAddToList: ['str', 'str', 'str[]'],
  roomCreate: ['str', 'bool'],
  roomDelete: ['str'],
  roomGetAccessList: ['str', 'str'],
  roomGetOwner: ['str'],
  roomGetWhitelistMode: ['str'],
  roomHistoryGet: ['str', 'num>=0', 'num>=1'],
  roomHistoryInfo: ['str'],
  roomJoin: ['str'],
  roomLeave: ['str'],
  roomMessage: ['str', 'msg'],
  roomNotificationsInfo: ['str'],
  roomRecentHistory: ['str'],
  roomRemoveFromList: ['str', 'str', 'str[]'],
  roomSetWhitelistMode: ['str', 'bool'],
  roomUserSeen: ['str', 'str'],
  systemMessage: ['any']
}
const COMMAND_NAMES = Object.keys(COMMANDS)

// ---------------------------------------------------------------- values

/** The string as the server keeps it: lone surrogates become U+FFFD. */
const wellFormed = (s) => s.toWellFormed()

/** JSON.stringify as the server renders `%j` (binary as Node's Buffer JSON). */
function jsonOf (v) {
  return JSON.stringify(v, function (k, x) {
    const orig = this[k]
    if (orig instanceof Uint8Array && !Buffer.isBuffer(orig)) return Buffer.from(orig).toJSON()
    return typeof x === 'string' ? wellFormed(x) : x
  })
}
const badArg = (pos, value) => [P + `Bad argument at position ${pos}, value ${jsonOf(value)}`, null]

function nestArray (depth, leaf = 'x') {
  let v = leaf
  for (let i = 0; i < depth; i++) v = [v]
  return v
}
function nestObject (depth, leaf = 'x') {
  let v = leaf
  for (let i = 0; i < depth; i++) v = { a: v }
  return v
}
/** JSON text of `depth` nested arrays (for depths JSON.stringify cannot do). */
const nestText = (depth) => '['.repeat(depth) + '"x"' + ']'.repeat(depth)

function maxDepth (v) {
  // iterative: values may be deeper than the stack allows
  let max = 0
  const stack = [[v, 0]]
  while (stack.length) {
    const [x, d] = stack.pop()
    if (x && typeof x === 'object' && !(x instanceof Uint8Array)) {
      if (d + 1 > max) max = d + 1
      for (const y of Object.values(x)) stack.push([y, d + 1])
    }
  }
  return max
}

/** A short printable form of a value (for messages and reproducers). */
function summarize (v, depth = 0) {
  if (v === undefined) return '<undefined>'
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '<NaN>'
    if (!Number.isFinite(v)) return `<${v}>`
    if (Object.is(v, -0)) return '<-0>'
    return v
  }
  if (typeof v === 'string') {
    const s = v.length > 60 ? v.slice(0, 24) + `…<${v.length} chars>…` + v.slice(-8) : v
    return s
  }
  if (Buffer.isBuffer(v)) return `<Buffer ${v.length} bytes>`
  if (v instanceof Uint8Array) return `<Uint8Array ${v.length} bytes>`
  if (v && typeof v === 'object') {
    if (depth >= 4) {
      const d = maxDepth(v)
      if (d > 1) return `<${Array.isArray(v) ? 'array' : 'object'} nested ${d} deep>`
    }
    if (Array.isArray(v)) {
      const items = v.slice(0, 6).map(x => summarize(x, depth + 1))
      if (v.length > 6) items.push(`<…${v.length} elements>`)
      return items
    }
    const out = {}
    const keys = Object.keys(v)
    for (const k of keys.slice(0, 8)) {
      Object.defineProperty(out, k.length > 30 ? k.slice(0, 20) + `…<${k.length}>` : k,
        { value: summarize(v[k], depth + 1), enumerable: true, writable: true, configurable: true })
    }
    if (keys.length > 8) out['<…keys>'] = keys.length
    return out
  }
  return v
}
const show = (v) => {
  const s = JSON.stringify(summarize(v))
  return s === undefined ? 'undefined' : s
}
const showCall = (ev, args) => `${JSON.stringify(summarize(ev))}(${args.map(show).join(', ')})`

/** Features of a request's arguments, to tell failures apart. */
function features (args) {
  const f = new Set()
  const stack = [[args, 0]]
  while (stack.length) {
    const [x, d] = stack.pop()
    if (typeof x === 'string') {
      if (x !== wellFormed(x)) f.add('loneSurrogate')
      if (/[\u0000-\u001f\u007f]/.test(x)) f.add('controlChar')
      if (/["\\]/.test(x)) f.add('quoteOrBackslash')
      if (x.length >= 50000) f.add('hugeString')
    } else if (typeof x === 'number') {
      if (!Number.isFinite(x)) f.add('nonFinite')
    } else if (x instanceof Uint8Array) {
      f.add('binary')
    } else if (x && typeof x === 'object') {
      if (d > 100) f.add('depth>100')
      if (Array.isArray(x) && x.length >= 5000) f.add('bigArray')
      if (!Array.isArray(x)) {
        for (const k of Object.keys(x)) stack.push([k, d + 1])
        if ('_placeholder' in x) f.add('placeholder')
      }
      for (const y of Object.values(x)) stack.push([y, d + 1])
    }
  }
  return [...f].sort()
}

function hasBinary (v) {
  const stack = [v]
  while (stack.length) {
    const x = stack.pop()
    if (x instanceof Uint8Array) return true
    if (x && typeof x === 'object') for (const y of Object.values(x)) stack.push(y)
  }
  return false
}

// ---------------------------------------------------------------- sockets

/**
 * A client whose acks are counted on the wire (per packet id, from the
 * Manager's decoded packets, before the library drops duplicates) and
 * whose 'disconnect' events not caused by our own close are recorded.
 */
class Watched {
  constructor (client) {
    this.c = client
    this.version = client.version
    this.ackCount = new Map() // packet id -> ack packets seen
    this.sentIds = new Set() // ids sent with an ack callback
    this.unknownIds = new Map() // id -> description, unknown events (no reply expected)
    this.stray = [] // ack packets for an id never sent
    this.callbacks = new Map() // id -> callback invocations
    this.closedBy = [] // disconnect reasons not caused by close()
    this.clientErrors = [] // packets from the server the client could not decode
    this.received = [] // the last packets received (for reports)
    this.engineClose = null // the Engine.IO close reason and description
    this.closing = false
    this.rawWaiters = new Map()
    this.pending = new Set() // {reject} of requests waiting for an ack
    this.nextRaw = RAW_ID_BASE
    client.socket.io.on('packet', (p) => this._packet(p))
    const engine = client.socket.io.engine
    if (engine) {
      engine.on('close', (reason, desc) => {
        const d = desc && (desc.description ?? desc.message ?? desc.type ?? desc)
        this.engineClose = `${reason}${d !== undefined ? ` (${String(d.message ?? d).slice(0, 80)})` : ''}`
      })
    }
    if (this.version === 2) {
      // socket.io-client 2 throws a decoding error out of its transport's
      // event handler (an uncaught exception that ends the test process):
      // record it, reset the decoder and go on with the packet
      const decoder = client.socket.io.decoder
      const add = decoder.add.bind(decoder)
      decoder.add = (obj) => {
        try {
          add(obj)
        } catch (e) {
          this.clientErrors.push(e.message)
          if (decoder.reconstructor) {
            decoder.reconstructor = null
            try { add(obj) } catch (e2) { this.clientErrors.push(e2.message) }
          }
        }
      }
    }
    client.socket.on('disconnect', (reason) => {
      if (this.closing) return
      this.closedBy.push(String(reason))
      for (const w of this.pending) w.closed(String(reason))
    })
  }

  get user () { return this.c.user }
  get id () { return this.c.id }
  get open () { return this.c.socket.connected && this.closedBy.length === 0 }

  _packet (p) {
    this.received.push(`${p.type}${p.id !== undefined ? '#' + p.id : ''}:${Array.isArray(p.data) && typeof p.data[0] === 'string' && p.type !== 3 && p.type !== 6 ? p.data[0] : ''}`)
    if (this.received.length > 6) this.received.shift()
    if (p.nsp !== NAMESPACE || (p.type !== 3 && p.type !== 6)) return
    const n = (this.ackCount.get(p.id) || 0) + 1
    this.ackCount.set(p.id, n)
    if (!this.sentIds.has(p.id)) this.stray.push(p.id)
    const w = this.rawWaiters.get(p.id)
    if (w && n === 1) w(p.data)
  }

  /**
   * Sends `ev(...args)` with an ack callback; resolves with the ack
   * arguments. Rejects after `timeout` or as soon as the server closes the
   * socket. `how`: 'emit' (the library's emit; falls back to a hand-made
   * packet for names the library refuses), 'raw' (a hand-made packet,
   * `data` = [ev, ...args]), or {text} (JSON text of the packet data,
   * written to the Engine.IO connection as is).
   */
  request (ev, args, { timeout = ACK_TIMEOUT, how = 'emit', unknown = false } = {}) {
    if (how === 'emit' && this.version === 2 && LOCAL_V2.has(ev)) how = 'raw'
    return new Promise((resolve, reject) => {
      let id
      const desc = typeof how === 'object' ? `${how.text.slice(0, 80)}…` : showCall(ev, args)
      const w = {
        closed: (reason) => finish(new Error(`socket closed by the server (${reason}) before the ack of ${desc}`))
      }
      const timer = setTimeout(() => finish(new Error(`no ack within ${timeout} ms for ${desc}`)), timeout)
      const finish = (err, ack) => {
        clearTimeout(timer)
        this.pending.delete(w)
        this.rawWaiters.delete(id)
        if (err) reject(err)
        else resolve(ack)
      }
      if (!unknown) this.pending.add(w)
      const onAck = (...ack) => {
        this.callbacks.set(id, (this.callbacks.get(id) || 0) + 1)
        if (!unknown) finish(null, ack)
      }
      if (!this.open) {
        finish(new Error(`socket already closed by the server (${this.closedBy.join(', ')}) before ${desc}`))
        return
      }
      if (how === 'emit') {
        id = this.c.socket.ids
        try {
          this.sentIds.add(id)
          this.c.socket.emit(ev, ...args, onAck)
        } catch {
          // the library refuses the name (v4 reserved events)
          this.sentIds.delete(id)
          how = 'raw'
        }
      }
      if (how !== 'emit') {
        id = this.nextRaw++
        this.sentIds.add(id)
        this.rawWaiters.set(id, (data) => onAck(...data))
        if (how === 'raw') {
          const data = [ev, ...args]
          // v2's encoder wants the binary type given; v4's finds it itself
          this.c.socket.packet({ type: this.version === 2 && hasBinary(data) ? 5 : 2, data, id })
        } else {
          this.c.socket.io.engine.write(`2${NAMESPACE},${id}${how.text}`)
        }
      }
      if (unknown) {
        this.unknownIds.set(id, desc)
        finish(null, null)
      }
    })
  }

  call (ev, ...args) { return this.request(ev, args) }

  /** Sends an unknown event with an ack callback (which must never fire). */
  sendUnknown (ev, args, how = 'emit') { return this.request(ev, args, { unknown: true, how }) }

  /** Problems seen so far (an empty list when all is well). */
  problems () {
    const out = []
    if (this.closedBy.length) out.push(`socket closed by the server: ${this.closedBy.join(', ')}`)
    if (this.clientErrors.length) out.push(`the client could not decode packets from the server: ${[...new Set(this.clientErrors)].join(', ')}`)
    const doubles = [...this.ackCount].filter(([, n]) => n > 1)
    if (doubles.length) out.push(`ack packets received more than once: ${JSON.stringify(doubles)} (id, count)`)
    const cbDoubles = [...this.callbacks].filter(([, n]) => n > 1)
    if (cbDoubles.length) out.push(`ack callbacks called more than once: ${JSON.stringify(cbDoubles)}`)
    if (this.stray.length) out.push(`acks for ids never sent: ${JSON.stringify(this.stray)}`)
    const unknownAcked = [...this.unknownIds].filter(([id]) => this.ackCount.has(id))
    if (unknownAcked.length) out.push(`unknown events got an ack: ${unknownAcked.map(([, d]) => d).join('; ')}`)
    return out
  }

  /** One more round trip, then no problem may have been seen. */
  async settle () {
    const ack = await this.call('listOwnSockets')
    assert.equal(ack[0], null, `listOwnSockets after the hostile request failed: ${show(ack)}`)
    assert.ok(this.id in ack[1], `listOwnSockets does not list the socket itself: ${show(ack)}`)
    // an absence window: a close or a stray ack caused by the hostile
    // request may trail that ack (requests are processed concurrently)
    await sleep(100)
    const problems = this.problems()
    if (problems.length) throw new Error(problems.join('; '))
    if (!this.c.socket.connected) throw new Error('socket not connected')
  }

  close () {
    this.closing = true
    for (const w of this.pending) w.closed('closed by the test')
    this.c.close()
  }
}

async function loginWatched (url, user, opts) {
  const c = connect(url, user, opts)
  const w = new Watched(c)
  try {
    await c.login()
  } catch (e) {
    w.close()
    throw e
  }
  return w
}

// ---------------------------------------------------------------- server log

function strip (s) { return s.replace(/\x1b\[[0-9;]*m/g, '') } // eslint-disable-line no-control-regex
function streams (srv) {
  const m = /^--- stdout ---\n([\s\S]*)\n--- stderr ---\n([\s\S]*)$/.exec(srv.output())
  return m ? [m[1], m[2]] : [srv.output(), '']
}

/**
 * Registers hooks remembering how much the server had written once it
 * started; `badLines()` gives the WARN and ERROR lines written since,
 * deduplicated (timestamps removed) with their counts.
 */
function watchLog (srv) {
  let start = null
  before(() => { start = streams(srv).map(s => s.length) })
  return {
    badLines () {
      const [out, err] = streams(srv)
      const text = out.slice(start ? start[0] : 0) + '\n' + err.slice(start ? start[1] : 0)
      const counts = new Map()
      for (const line of strip(text).split('\n')) {
        if (!/ (WARN|ERROR) /.test(line)) continue
        // printed at start (its stderr line may trail the listening line)
        if (/--auth query: any client can log in as any user/.test(line)) continue
        // without the timestamp and the parser's position, so the same
        // error at another column counts as one line
        const key = line.replace(/^\S*\d{4}-\d\d-\d\dT[\d:.]+Z\s+/, '').replace(/ at line \d+ column \d+/g, ' at line L column C').slice(0, 300)
        counts.set(key, (counts.get(key) || 0) + 1)
      }
      return [...counts].map(([line, n]) => `${n} x ${line}`)
    }
  }
}

// ---------------------------------------------------------------- cases

/**
 * Runs `cases` concurrently, each on sockets of its own fresh user:
 * `ctx.main` (and with `other: true` a second socket of the same user,
 * `ctx.other`), with `room: true` a room `ctx.room` created by the user and
 * joined by `ctx.main`. `ctx.peer` is an online user of the describe.
 * After `run(ctx)` every socket of the case must pass `settle()`. Fails
 * with the list of every failing case.
 */
async function runCases (env, cases, { concurrency = 32 } = {}) {
  const failures = []
  let next = 0
  async function one (k) {
    const sockets = []
    try {
      const user = uniq('h')
      const opts = { version: env.version }
      const main = await loginWatched(env.url, user, { ...opts, transports: k.mainTransports })
      sockets.push(main)
      const ctx = { user, main, peer: env.peer.user, peerSocket: env.peer, version: env.version, url: env.url }
      if (k.other) {
        ctx.other = await loginWatched(env.url, user, { ...opts, transports: k.otherTransports })
        sockets.push(ctx.other)
        await main.c.next('socketConnectEcho', { filter: (id) => id === ctx.other.id })
      }
      if (k.room) {
        ctx.room = uniq('room')
        assert.deepEqual(await main.call('roomCreate', ctx.room, false), [null, null])
        assert.deepEqual(await main.call('roomJoin', ctx.room), [null, 1])
        assert.deepEqual(await main.c.next('roomUserJoined'), [ctx.room, user])
      }
      await k.run(ctx)
      for (const s of sockets) await s.settle()
      if (k.after) await k.after(ctx)
    } catch (e) {
      failures.push(`${k.label}: ${e.message.split('\n')[0].slice(0, 600)}`)
    } finally {
      for (const s of sockets) s.close()
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, cases.length) }, async () => {
    while (next < cases.length) await one(cases[next++])
  }))
  if (failures.length) {
    assert.fail(`${failures.length} of ${cases.length} cases failed (v${env.version}):\n  ${failures.join('\n  ')}`)
  }
}

/** A case: `ev(...args)` must be acked with a value passing `check(ack, ctx)`. */
function acked (label, ev, args, check, opts = {}) {
  return {
    label,
    ...opts,
    async run (ctx) {
      const a = typeof args === 'function' ? args(ctx) : args
      const ack = await ctx.main.request(ev, a, { how: opts.how || 'emit' })
      try {
        await check(ack, ctx)
      } catch (e) {
        throw new Error(`${e.message.split('\n')[0]} (ack ${show(ack).slice(0, 300)})`)
      }
    }
  }
}

const isBadArg = (pos) => (ack) => {
  assert.equal(typeof ack[0], 'string', 'expected an error')
  assert.ok(ack[0].startsWith(P + `Bad argument at position ${pos}`), `expected badArgument at position ${pos}, got ${JSON.stringify(ack[0]).slice(0, 120)}`)
  assert.equal(ack[1], null)
  assert.equal(ack.length, 2)
}
const isOk = (ack) => {
  assert.equal(ack[0], null, 'expected success')
  assert.equal(ack.length, 2)
}
const equals = (expected) => (ack) => assert.deepEqual(ack, expected)
/** Success, or badArgument at `pos` (values the server may refuse as too deep). */
const okOrBadArg = (pos) => (ack) => {
  if (ack[0] === null) return isOk(ack)
  isBadArg(pos)(ack)
}
/** Any sensible ack: success or a ChatServiceError string. */
const sensible = (ack) => {
  assert.equal(ack.length, 2, 'ack must be [error, data]')
  if (ack[0] === null) return
  assert.equal(typeof ack[0], 'string')
  assert.ok(ack[0].startsWith(P), 'error must be a ChatServiceError')
  assert.equal(ack[1], null)
}

/** systemMessage(data): ack [null, null] and the other socket gets `expected`. */
function systemMessageCase (label, data, expected = data, opts = {}) {
  return {
    label,
    other: true,
    ...opts,
    async run (ctx) {
      const ack = await ctx.main.request('systemMessage', [data], { how: opts.how || 'emit' })
      assert.deepEqual(ack, [null, null], `systemMessage ack ${show(ack)}`)
      const [got] = await ctx.other.c.next('systemMessage', { timeout: ACK_TIMEOUT })
      if (typeof expected === 'function') expected(got)
      else assert.deepEqual(got, expected, `systemMessage received ${show(got)}`)
    }
  }
}

/** The JSON text of packet data, for `how: {text}`. */
const text = (t) => ({ text: t })

// ---------------------------------------------------------------- specific inputs

const LONE = ['x\ud800y', '\udc00', 'a\ud83d', '\udfff\ud800', 'a\ud800\ud800b', '\ud800\udc00\udc00']
const BUF = () => Buffer.from([1, 2, 3])
const U8 = () => new Uint8Array([1, 2, 3])

const EVENT_NAMES = [
  '\u0000', '', '\ud800', '\udc00x', 'a\u0000b', '\u001f', '\u007f', '\n', ' ',
  'e'.repeat(10000), 'e'.repeat(100000),
  'connect', 'disconnect', 'connect_error', 'disconnecting', 'newListener', 'removeListener',
  'error', 'ping', 'pong', 'connecting', 'reconnect', 'message', 'connection',
  '0', '1', '42', '-1', '1e3', '0x10', 'NaN', 'Infinity', 'null', 'undefined', 'true',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '__defineGetter__',
  'roomJoin ', ' roomJoin', 'ROOMJOIN', 'roomjoin', 'roomJoin\u0000', 'roomJoin\ud800', 'roomJoin\ufffd',
  'loginConfirmed', 'loginRejected', 'roomMessage\n', 'disconnectUserSockets', 'execUserCommand',
  'a"b', '"', '\\', 'a\\b', '\t', 'roomJoin"', '\u2028', '\ufffd', '\uffff', '\ud83d\ude00',
  ':', '{}', '/chat-service', '#', '%s%d%j', 'échec', '😀'
]

function surrogateCases () {
  const cases = []
  cases.push({
    label: "roomCreate('x\\ud800y', false) then roomJoin('x\\ud800y'): the room is 'x\\ufffdy'",
    other: true,
    async run (ctx) {
      const name = 'x\ud800y' + ctx.user // the user makes it unique per server
      const kept = wellFormed(name)
      assert.deepEqual(await ctx.main.call('roomCreate', name, false), [null, null])
      assert.deepEqual(await ctx.main.call('roomJoin', name), [null, 1])
      assert.deepEqual(await ctx.main.c.next('roomUserJoined', { timeout: ACK_TIMEOUT }), [kept, ctx.user])
      assert.deepEqual(await ctx.other.c.next('roomJoinedEcho', { timeout: ACK_TIMEOUT }), [kept, ctx.main.id, 1])
      assert.deepEqual(await ctx.main.call('listOwnSockets'), [null, { [ctx.main.id]: [kept], [ctx.other.id]: [] }])
      // the same room, named with U+FFFD or with the lone surrogate
      assert.deepEqual(await ctx.other.call('roomJoin', kept), [null, 2])
      assert.deepEqual(await ctx.main.call('roomCreate', kept, false), [P + `Room ${kept} already exists`, null])
      assert.deepEqual(await ctx.main.call('roomGetOwner', name), [null, ctx.user])
      assert.deepEqual(await ctx.main.call('roomGetAccessList', name, 'userlist'), [null, [ctx.user]])
    }
  })
  for (const s of LONE) {
    cases.push({
      label: `roomCreate/roomJoin/roomLeave ${JSON.stringify(s)}`,
      async run (ctx) {
        const name = uniq('s') + s
        const kept = wellFormed(name)
        assert.deepEqual(await ctx.main.call('roomCreate', name, false), [null, null])
        assert.deepEqual(await ctx.main.call('roomJoin', name), [null, 1])
        assert.deepEqual(await ctx.main.call('listOwnSockets'), [null, { [ctx.main.id]: [kept] }])
        assert.deepEqual(await ctx.main.call('roomLeave', kept), [null, 0])
      }
    })
    cases.push(acked(`roomJoin of a missing room ${JSON.stringify(s)}`, 'roomJoin', ['nor' + s],
      equals([P + `No such room nor${wellFormed(s)}`, null])))
    cases.push(acked(`roomCreate(${JSON.stringify(s)}, "bad"): badArgument at 1`, 'roomCreate', [s, 'bad'],
      equals(badArg(1, 'bad'))))
    cases.push(acked(`roomJoin([${JSON.stringify(s)}]): badArgument shows U+FFFD`, 'roomJoin', [[s]],
      equals([P + `Bad argument at position 0, value ${JSON.stringify([wellFormed(s)])}`, null])))
    cases.push({
      label: `roomMessage textMessage ${JSON.stringify(s)}`,
      room: true,
      async run (ctx) {
        const text = 'm' + s
        assert.deepEqual(await ctx.main.call('roomMessage', ctx.room, { textMessage: text }), [null, 1])
        const [r, msg] = await ctx.main.c.next('roomMessage', { timeout: ACK_TIMEOUT })
        assert.equal(r, ctx.room)
        assert.equal(msg.textMessage, wellFormed(text))
        const [err, history] = await ctx.main.call('roomRecentHistory', ctx.room)
        assert.equal(err, null)
        assert.equal(history[0].textMessage, wellFormed(text))
      }
    })
    cases.push({
      label: `roomAddToList entry ${JSON.stringify(s)}`,
      room: true,
      async run (ctx) {
        assert.deepEqual(await ctx.main.call('roomAddToList', ctx.room, 'whitelist', ['u' + s, 'v']), [null, null])
        const [error, list] = await ctx.main.call('roomGetAccessList', ctx.room, 'whitelist')
        assert.equal(error, null)
        assert.deepEqual(unorderedWithRedis(list), unorderedWithRedis([wellFormed('u' + s), 'v']))
        assert.deepEqual(await ctx.main.call('roomRemoveFromList', ctx.room, 'whitelist', ['u' + s]), [null, null])
        assert.deepEqual(await ctx.main.call('roomGetAccessList', ctx.room, 'whitelist'), [null, ['v']])
      }
    })
    cases.push(acked(`roomAddToList list name ${JSON.stringify(s)}`, 'roomAddToList',
      (ctx) => [ctx.room, 'white' + s, ['a']], equals([P + `No such list white${wellFormed(s)}`, null]), { room: true }))
    cases.push(acked(`directMessage to unknown user ${JSON.stringify(s)}`, 'directMessage',
      ['nobody' + s, { textMessage: 'x' }], equals([P + `No such user nobody${wellFormed(s)}`, null])))
    cases.push({
      label: `directMessage textMessage ${JSON.stringify(s)}`,
      async run (ctx) {
        const [err, msg] = await ctx.main.call('directMessage', ctx.peer, { textMessage: 'dm' + s })
        assert.equal(err, null)
        assert.equal(msg.textMessage, wellFormed('dm' + s))
        const [got] = await ctx.peerSocket.c.next('directMessage', { timeout: ACK_TIMEOUT, filter: (m) => m.author === ctx.user })
        assert.equal(got.textMessage, wellFormed('dm' + s))
      }
    })
    cases.push(acked(`roomUserSeen user ${JSON.stringify(s)}`, 'roomUserSeen', (ctx) => [ctx.room, 'z' + s],
      equals([null, { joined: false, timestamp: null }]), { room: true }))
    cases.push(acked(`directAddToList entry ${JSON.stringify(s)}`, 'directAddToList', ['blacklist', ['b' + s]],
      equals([null, null])))
    cases.push(systemMessageCase(`systemMessage key and value ${JSON.stringify(s)}`,
      { ['k' + s]: [s, { [s]: s }] }, { [wellFormed('k' + s)]: [wellFormed(s), { [wellFormed(s)]: wellFormed(s) }] }))
    cases.push(acked(`roomJoin extra argument ${JSON.stringify(s)}`, 'roomJoin', (ctx) => [ctx.room, s, { [s]: s }],
      equals([null, 1]), { room: true }))
  }
  cases.push(acked('a valid pair is kept: roomJoin("x\\ud83d\\ude00y")', 'roomJoin', ['nor\ud83d\ude00'],
    equals([P + 'No such room nor\ud83d\ude00', null])))
  cases.push(acked('roomCreate name with a lone surrogate and a control char: invalidName shows U+FFFD', 'roomCreate',
    ['a\ud800:b', false], equals([P + 'String a\ufffd:b contains invalid characters', null])))
  return cases
}

const DEPTHS = [1, 64, 100, 120, 126, 127, 128, 129, 130, 200, 256, 1000]
function depthCases () {
  const cases = []
  for (const [kind, nest] of [['array', nestArray], ['object', nestObject]]) {
    for (const d of DEPTHS) {
      cases.push(acked(`roomJoin(${kind} nested ${d} deep): badArgument at 0`, 'roomJoin', [nest(d)], isBadArg(0)))
      if (d <= 128) {
        cases.push(systemMessageCase(`systemMessage(${kind} nested ${d} deep): accepted and passed on`, nest(d)))
      } else {
        cases.push(acked(`systemMessage(${kind} nested ${d} deep): success or badArgument`, 'systemMessage', [nest(d)], okOrBadArg(0)))
      }
      cases.push(acked(`roomMessage(room, {textMessage, extra: ${kind} nested ${d} deep}): badArgument at 1`,
        'roomMessage', (ctx) => [ctx.room, { textMessage: 'x', extra: nest(d) }], isBadArg(1), { room: true }))
      cases.push(acked(`roomMessage(room, {textMessage: ${kind} nested ${d} deep}): badArgument at 1`,
        'roomMessage', (ctx) => [ctx.room, { textMessage: nest(d) }], isBadArg(1), { room: true }))
      cases.push(acked(`roomMessage(room, ${kind} nested ${d} deep): badArgument at 1`,
        'roomMessage', (ctx) => [ctx.room, nest(d)], isBadArg(1), { room: true }))
      cases.push(acked(`roomJoin(room, extra ${kind} nested ${d} deep): the extra argument is ignored`,
        'roomJoin', (ctx) => [ctx.room, nest(d)], d <= 128 ? equals([null, 1]) : sensible, { room: true }))
    }
  }
  // deeper than JSON.stringify can go: hand-written JSON text
  for (const d of [5000, 100000]) {
    cases.push(acked(`roomJoin(array nested ${d} deep, as JSON text): badArgument at 0`, 'roomJoin', [], isBadArg(0),
      { how: text(`["roomJoin",${nestText(d)}]`) }))
    cases.push(acked(`systemMessage(array nested ${d} deep, as JSON text): success or badArgument`, 'systemMessage', [],
      okOrBadArg(0), { how: text(`["systemMessage",${nestText(d)}]`) }))
  }
  return cases
}

function eventNameCases () {
  const cases = []
  for (const name of EVENT_NAMES) {
    cases.push({
      label: `unknown event ${show(name)}: no reply, socket open`,
      async run (ctx) {
        await ctx.main.sendUnknown(name, ['x', 1])
        await ctx.main.sendUnknown(name, [])
        await ctx.main.sendUnknown(name, [BUF()])
      },
      async after (ctx) {
        await sleep(100) // an absence window: an ack would come right after the listOwnSockets one
        const problems = ctx.main.problems()
        if (problems.length) throw new Error(problems.join('; '))
      }
    })
  }
  // event names that are not strings, in hand-made packets (socket.io 2,
  // the original's server, ignores them like any unknown event)
  for (const data of [[42, 'x'], [null, 'x'], [{}, 'x'], [['roomJoin'], 'x'], [true], [1.5], []]) {
    cases.push({
      label: `packet data ${JSON.stringify(data)} (event name not a string): no reply, socket open`,
      async run (ctx) {
        await ctx.main.sendUnknown(data[0], data.slice(1), text(JSON.stringify(data)))
      }
    })
  }
  // a command name written with JSON escapes is the same name (JSON.parse)
  for (const t of ['["\\u0072oomJoin","nor"]', '["roomJ\\u006fin","nor"]', '["roomJoin","n\\u006fr"]']) {
    cases.push(acked(`command name with a JSON escape: ${t}`, 'roomJoin', [], equals([P + 'No such room nor', null]), { how: text(t) }))
  }
  // known commands with odd extra arguments: ignored (protocol.md 2.1)
  const extras = {
    'array nested 1000 deep': () => nestArray(1000),
    'object nested 1000 deep': () => nestObject(1000),
    'lone surrogate': () => '\ud800',
    Buffer: BUF,
    Uint8Array: U8,
    '1e308': () => 1e308,
    NaN: () => NaN,
    undefined: () => undefined,
    __proto__: () => JSON.parse('{"__proto__":{"polluted":1}}'),
    '100 KB string': () => 'x'.repeat(100000),
    '10k array': () => Array.from({ length: 10000 }, (_, i) => i),
    'fake binary placeholder': () => ({ _placeholder: true, num: 0 }),
    'fake binary placeholder num 5': () => ({ _placeholder: true, num: 5 })
  }
  for (const [label, make] of Object.entries(extras)) {
    cases.push(acked(`roomJoin(room, ${label}): extra argument ignored`, 'roomJoin', (ctx) => [ctx.room, make()],
      equals([null, 1]), { room: true }))
    cases.push(acked(`listOwnSockets(${label}): extra argument ignored`, 'listOwnSockets', () => [make()],
      (ack, ctx) => assert.deepEqual(ack, [null, { [ctx.main.id]: [] }])))
    cases.push(acked(`directGetWhitelistMode(${label}, ${label}): extra arguments ignored`, 'directGetWhitelistMode',
      () => [make(), make()], equals([null, false])))
  }
  cases.push(acked('roomGetOwner(room, all the odd values at once)', 'roomGetOwner',
    (ctx) => [ctx.room, ...Object.values(extras).map(m => m())], (ack, ctx) => assert.deepEqual(ack, [null, ctx.user]), { room: true }))
  return cases
}

const BINARY_COMMANDS = [
  ['roomJoin', (c) => [c.room], equals([null, 1])],
  ['roomLeave', (c) => [c.room], equals([null, 0])],
  ['roomCreate', () => [uniq('bin'), false], equals([null, null])],
  ['roomMessage', (c) => [c.room, { textMessage: 'm' }], equals([null, 1])],
  ['roomAddToList', (c) => [c.room, 'whitelist', ['z']], equals([null, null])],
  ['roomGetAccessList', (c) => [c.room, 'whitelist'], equals([null, []])],
  ['roomHistoryGet', (c) => [c.room, 0, 10], equals([null, []])],
  ['roomUserSeen', (c) => [c.room, 'nobody'], equals([null, { joined: false, timestamp: null }])],
  ['roomSetWhitelistMode', (c) => [c.room, false], equals([null, null])],
  ['directMessage', (c) => [c.peer, { textMessage: 'd' }], (ack) => { assert.equal(ack[0], null); assert.equal(ack[1].textMessage, 'd') }],
  ['directAddToList', () => ['blacklist', ['zz']], equals([null, null])],
  ['directSetWhitelistMode', () => [false], equals([null, null])],
  ['systemMessage', () => ['s'], equals([null, null])]
]

function binaryCases (version) {
  const cases = []
  // socket.io-client 2 sends only Buffer/ArrayBuffer/Blob as binary: a
  // Uint8Array goes out as the JSON object {"0":1,"1":2,"2":3}
  const asSent = (make) => version === 2 && !Buffer.isBuffer(make()) ? { ...make() } : BUF()
  for (const [cmd, base, okCheck] of BINARY_COMMANDS) {
    const arity = COMMANDS[cmd].length
    for (const [bname, make] of [['Buffer', BUF], ['Uint8Array', U8]]) {
      for (let pos = 0; pos <= arity; pos++) {
        const label = `${cmd} with a ${bname} at position ${pos}${pos === arity ? ' (extra)' : ''}`
        if (pos === arity) {
          cases.push(acked(label, cmd, (c) => [...base(c), make()], okCheck, { room: true }))
        } else if (COMMANDS[cmd][pos] === 'any') {
          cases.push(systemMessageCase(label, make(), (got) => {
            if (version === 2 && !Buffer.isBuffer(make())) return assert.deepEqual(got, asSent(make))
            assert.ok(got instanceof Uint8Array || got instanceof ArrayBuffer, `received ${show(got)}`)
            assert.deepEqual([...new Uint8Array(got)], [1, 2, 3])
          }))
        } else {
          cases.push(acked(label, cmd, (c) => { const a = base(c); a[pos] = make(); return a },
            equals(badArg(pos, asSent(make))), { room: true }))
        }
      }
    }
  }
  cases.push(acked('roomMessage(room, {textMessage: Buffer})', 'roomMessage', (c) => [c.room, { textMessage: BUF() }],
    equals(badArg(1, { textMessage: BUF() })), { room: true }))
  cases.push(acked('roomAddToList(room, "whitelist", ["a", Buffer])', 'roomAddToList', (c) => [c.room, 'whitelist', ['a', BUF()]],
    equals(badArg(2, ['a', BUF()])), { room: true }))
  cases.push(acked('roomJoin(empty Buffer)', 'roomJoin', [Buffer.alloc(0)], equals(badArg(0, Buffer.alloc(0)))))
  cases.push(acked('roomJoin(Buffer nested 100 deep)', 'roomJoin', [nestArray(100, BUF())], isBadArg(0)))
  cases.push(systemMessageCase('systemMessage(500 KB Buffer)', Buffer.alloc(500000, 7), (got) => {
    assert.equal(got.byteLength, 500000)
  }))
  // 10 attachments: both client libraries refuse packets with more
  // (socket.io-parser maxAttachments = 10), so more is not sent to a client
  cases.push(systemMessageCase('systemMessage(10 small Buffers)', Array.from({ length: 10 }, (_, i) => Buffer.from([i])),
    (got) => { assert.equal(got.length, 10); assert.deepEqual([...new Uint8Array(got[9])], [9]) }))
  // binary notifications over each transport (the receiver's transport
  // decides the Engine.IO encoding of the attachment)
  for (const [from, to] of [['websocket', 'polling'], ['polling', 'polling'], ['polling', 'websocket'], ['websocket', 'websocket']]) {
    cases.push(systemMessageCase(`systemMessage(Buffer) from a ${from} socket to a ${to} socket`, BUF(), (got) => {
      assert.deepEqual([...new Uint8Array(got)], [1, 2, 3])
    }, { mainTransports: [from], otherTransports: [to] }))
    cases.push(systemMessageCase(`systemMessage({file: Buffer, name}) from a ${from} socket to a ${to} socket`, { file: BUF(), name: 'f' }, (got) => {
      assert.equal(got.name, 'f')
      assert.deepEqual([...new Uint8Array(got.file)], [1, 2, 3])
    }, { mainTransports: [from], otherTransports: [to] }))
  }
  cases.push(systemMessageCase('systemMessage({ok: Buffer, placeholder look-alike})', { b: BUF(), p: { _placeholder: true, num: 0 } },
    (got) => { assert.deepEqual([...new Uint8Array(got.b)], [1, 2, 3]); assert.ok(got.p !== undefined) }))
  // fake placeholders: socket.io's own framing, not data. Anything but a
  // placeholder naming one of the packet's attachments is read as null
  // (passed on, it would make the clients that receive it fail with
  // "illegal attachments" and close; README, compatibility notes)
  cases.push(acked('roomJoin({_placeholder: true, num: 0}) without attachments', 'roomJoin', [{ _placeholder: true, num: 0 }],
    equals(badArg(0, null))))
  for (const ph of [{ _placeholder: true, num: 0 }, { _placeholder: true, num: 7 }, { _placeholder: true, num: -1 },
    { _placeholder: true, num: '0' }, { _placeholder: true }, { _placeholder: true, num: null }, { _placeholder: 1, num: 0 },
    { _placeholder: false, num: 0 }, { _placeholder: {} }, { _placeholder: true, num: 0, extra: 1 }]) {
    cases.push(acked(`roomJoin(${JSON.stringify(ph)}, Buffer) with one attachment: badArgument at 0`, 'roomJoin', [ph, BUF()], isBadArg(0)))
  }
  cases.push(acked('systemMessage({_placeholder: true, num: 0, extra: 1}, Buffer): success or badArgument', 'systemMessage',
    [{ _placeholder: true, num: 0, extra: 1 }, BUF()], okOrBadArg(0)))
  return cases
}

function valueCases () {
  const cases = []
  // numbers JSON can carry
  cases.push(acked('roomHistoryGet(room, 1e308, 1e308)', 'roomHistoryGet', (c) => [c.room, 1e308, 1e308], equals([null, []]), { room: true }))
  cases.push(acked('roomHistoryGet(room, -0, 1)', 'roomHistoryGet', (c) => [c.room, -0, 1], equals([null, []]), { room: true }))
  cases.push(acked('roomHistoryGet(room, 2**53+1, 2**53+1)', 'roomHistoryGet', (c) => [c.room, 2 ** 53 + 1, 2 ** 53 + 1], equals([null, []]), { room: true }))
  cases.push(acked('roomHistoryGet(room, 5e-324, 1)', 'roomHistoryGet', (c) => [c.room, 5e-324, 1], equals([null, []]), { room: true }))
  cases.push(acked('roomHistoryGet(room, -1e308, 1)', 'roomHistoryGet', (c) => [c.room, -1e308, 1], equals(badArg(1, -1e308)), { room: true }))
  cases.push(acked('roomHistoryGet(room, NaN, 1): NaN is sent as null', 'roomHistoryGet', (c) => [c.room, NaN, 1], equals(badArg(1, null)), { room: true }))
  cases.push(acked('roomHistoryGet(room, 0, Infinity): Infinity is sent as null', 'roomHistoryGet', (c) => [c.room, 0, Infinity], equals(badArg(2, null)), { room: true }))
  cases.push(systemMessageCase('systemMessage(1e308)', 1e308))
  cases.push(systemMessageCase('systemMessage(-0)', -0, 0))
  cases.push(systemMessageCase('systemMessage(2**53+1)', 2 ** 53 + 1))
  cases.push(systemMessageCase('systemMessage([NaN, Infinity, -Infinity])', [NaN, Infinity, -Infinity], [null, null, null]))
  cases.push(systemMessageCase('systemMessage(-5e-324)', -5e-324))
  // numbers only hand-written JSON carries (Node's JSON.parse: 1e400 is Infinity)
  cases.push(acked('systemMessage(1e400) as JSON text', 'systemMessage', [], okOrBadArg(0), { how: text('["systemMessage",1e400]') }))
  cases.push(acked('systemMessage(-1e400) as JSON text', 'systemMessage', [], okOrBadArg(0), { how: text('["systemMessage",-1e400]') }))
  cases.push(acked('systemMessage(1e-400) as JSON text', 'systemMessage', [], okOrBadArg(0), { how: text('["systemMessage",1e-400]') }))
  cases.push(acked('systemMessage(123456789012345678901234567890) as JSON text', 'systemMessage', [], okOrBadArg(0),
    { how: text('["systemMessage",123456789012345678901234567890]') }))
  cases.push(acked('systemMessage(-0 literal, 1E2, 1.0) as JSON text', 'systemMessage', [], equals([null, null]),
    { how: text('["systemMessage",[-0,1E2,1.0]]') }))
  cases.push({
    label: 'roomHistoryGet(room, 1e400, 1) as JSON text: badArgument at 1',
    room: true,
    async run (ctx) {
      isBadArg(1)(await ctx.main.request('roomHistoryGet', [], { how: text(`["roomHistoryGet",${JSON.stringify(ctx.room)},1e400,1]`) }))
    }
  })
  cases.push(acked('roomJoin(123456789012345678901234567890) as JSON text', 'roomJoin', [], isBadArg(0),
    { how: text('["roomJoin",123456789012345678901234567890]') }))
  cases.push({
    label: 'roomMessage with a duplicated key {"textMessage":"a","textMessage":"b"} as JSON text',
    room: true,
    async run (ctx) {
      const ack = await ctx.main.request('roomMessage', [], { how: text(`["roomMessage",${JSON.stringify(ctx.room)},{"textMessage":"a","textMessage":"b"}]`) })
      okOrBadArg(1)(ack)
    }
  })
  cases.push(acked('string escapes as JSON text: roomJoin("\\u0000\\/\\b")', 'roomJoin', [],
    equals([P + 'No such room \u0000/\b', null]), { how: text('["roomJoin","\\u0000\\/\\b"]') }))

  // object keys that need a JSON escape
  for (const key of ['a\t', '"', '\\', 'a\nb', '\u0000', '\u001f', 'x"y\\z']) {
    cases.push(acked(`roomLeave({${JSON.stringify(key)}: ""}): badArgument at 0`, 'roomLeave', [{ [key]: '' }], equals(badArg(0, { [key]: '' }))))
    cases.push(acked(`roomMessage(room, {textMessage, ${JSON.stringify(key)}: 1}): badArgument at 1`, 'roomMessage',
      (c) => [c.room, { textMessage: 'x', [key]: 1 }], equals(badArg(1, { textMessage: 'x', [key]: 1 })), { room: true }))
  }
  cases.push(systemMessageCase('systemMessage with keys that need a JSON escape', { '"': 1, '\\': 2, 'a\nb': 3, '\u0001': { '\t': [] } }))
  cases.push(acked('roomLeave([{"\\t": 1}]): badArgument at 0', 'roomLeave', [[{ '\t': 1 }]], equals(badArg(0, [{ '\t': 1 }]))))
  cases.push(acked('roomLeave({a: {"\\t": 1}}): badArgument at 0', 'roomLeave', [{ a: { '\t': 1 } }], equals(badArg(0, { a: { '\t': 1 } }))))
  cases.push(acked('roomLeave({"\\u0041": 1}) as JSON text (an escaped plain letter): badArgument at 0', 'roomLeave', [],
    equals(badArg(0, { A: 1 })), { how: text('["roomLeave",{"\\u0041":1}]') }))
  cases.push(acked('roomJoin(room, {"\\t": 1}) (an extra argument)', 'roomJoin', (c) => [c.room, { '\t': 1 }], equals([null, 1]), { room: true }))

  // objects with prototype-ish keys
  const protoMsg = () => JSON.parse('{"__proto__":{"textMessage":"x"}}')
  cases.push(acked('roomMessage(room, {"__proto__": {textMessage}})', 'roomMessage', (c) => [c.room, protoMsg()],
    equals(badArg(1, protoMsg())), { room: true }))
  cases.push(acked('roomMessage(room, {textMessage, "__proto__": null})', 'roomMessage',
    (c) => [c.room, JSON.parse('{"textMessage":"x","__proto__":null}')], equals(badArg(1, JSON.parse('{"textMessage":"x","__proto__":null}'))), { room: true }))
  for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype']) {
    cases.push(acked(`roomMessage(room, {textMessage, ${key}})`, 'roomMessage', (c) => [c.room, { textMessage: 'x', [key]: 'y' }],
      equals(badArg(1, { textMessage: 'x', [key]: 'y' })), { room: true }))
    cases.push(acked(`roomMessage(room, {${key}: "x"})`, 'roomMessage', (c) => [c.room, { [key]: 'x' }],
      equals(badArg(1, { [key]: 'x' })), { room: true }))
  }
  cases.push(acked('directMessage(peer, {"__proto__": {textMessage}})', 'directMessage', (c) => [c.peer, protoMsg()],
    equals(badArg(1, protoMsg()))))
  cases.push(acked('roomCreate({"__proto__": 1}, false)', 'roomCreate', [JSON.parse('{"__proto__":1}'), false],
    equals(badArg(0, JSON.parse('{"__proto__":1}')))))
  cases.push({
    label: 'rooms named __proto__, constructor, hasOwnProperty, toString',
    async run (ctx) {
      // names may be any valid string (one server per describe: created once)
      const names = ['__proto__', 'constructor', 'hasOwnProperty', 'toString']
      for (const name of names) {
        assert.deepEqual(await ctx.main.call('roomCreate', name, false), [null, null])
        assert.deepEqual(await ctx.main.call('roomJoin', name), [null, 1])
        assert.deepEqual(await ctx.main.call('roomGetOwner', name), [null, ctx.user])
      }
      const [error, sockets] = await ctx.main.call('listOwnSockets')
      assert.equal(error, null)
      assert.deepEqual(Object.keys(sockets), [ctx.main.id])
      assert.deepEqual(unorderedWithRedis(sockets[ctx.main.id]), unorderedWithRedis(names))
    }
  })
  const protoData = () => JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}')
  cases.push(systemMessageCase('systemMessage({"__proto__", "constructor"})', protoData(), (got) => {
    assert.equal(JSON.stringify(got), JSON.stringify(protoData()))
  }))
  cases.push(acked('directAddToList("__proto__", ["a"])', 'directAddToList', ['__proto__', ['a']], equals([P + 'No such list __proto__', null])))
  cases.push(acked('roomGetAccessList(room, "__proto__")', 'roomGetAccessList', (c) => [c.room, '__proto__'],
    equals([P + 'No such list __proto__', null]), { room: true }))
  cases.push(acked('roomGetAccessList(room, "constructor")', 'roomGetAccessList', (c) => [c.room, 'constructor'],
    equals([P + 'No such list constructor', null]), { room: true }))
  cases.push(acked('roomUserSeen(room, "__proto__")', 'roomUserSeen', (c) => [c.room, '__proto__'],
    equals([null, { joined: false, timestamp: null }]), { room: true }))

  // long strings (the default --max-payload-bytes is 1000000)
  const long = 'a'.repeat(100000)
  cases.push(acked('roomJoin(100 KB name)', 'roomJoin', [long], equals([P + `No such room ${long}`, null])))
  cases.push({
    label: 'roomCreate/roomJoin with a 100 KB name',
    async run (ctx) {
      const name = uniq('long') + 'b'.repeat(100000)
      assert.deepEqual(await ctx.main.call('roomCreate', name, false), [null, null])
      assert.deepEqual(await ctx.main.call('roomJoin', name), [null, 1])
      assert.deepEqual(await ctx.main.call('listOwnSockets'), [null, { [ctx.main.id]: [name] }])
    }
  })
  for (const [label, t] of [['100 KB', 'c'.repeat(100000)], ['100k code units of emoji', '😀'.repeat(50000)],
    ['100k NUL chars', '\u0000'.repeat(100000)], ['100k lone surrogates', '\ud800'.repeat(100000)],
    ['100k quotes and backslashes', '"\\'.repeat(50000)]]) {
    cases.push({
      label: `roomMessage with a ${label} textMessage`,
      room: true,
      async run (ctx) {
        assert.deepEqual(await ctx.main.call('roomMessage', ctx.room, { textMessage: t }), [null, 1])
        const [, msg] = await ctx.main.c.next('roomMessage', { timeout: ACK_TIMEOUT })
        assert.ok(msg.textMessage === wellFormed(t), 'text changed')
      }
    })
  }
  // socket.io-client 2 over HTTP long-polling sends every buffered packet in
  // one POST (Engine.IO 3 has no maxPayload in its handshake; socket.io-client
  // 4 splits its POSTs by the server's maxPayload): each packet is under
  // --max-payload-bytes, their sum is not
  cases.push({
    label: 'four 400 KB requests sent at once over HTTP long-polling',
    room: true,
    mainTransports: ['polling'],
    async run (ctx) {
      const text = 'p'.repeat(400000)
      // the first goes out alone, the next three in one POST (1.2 MB)
      const acks = await Promise.all([1, 2, 3, 4].map(() => ctx.main.call('roomMessage', ctx.room, { textMessage: text })))
      assert.deepEqual(acks.map(a => a[0]), [null, null, null, null])
      assert.deepEqual(acks.map(a => a[1]).sort(), [1, 2, 3, 4])
    }
  })
  cases.push(acked('directMessage(peer, 100 KB textMessage)', 'directMessage', (c) => [c.peer, { textMessage: long }],
    (ack) => { assert.equal(ack[0], null); assert.equal(ack[1].textMessage, long) }))
  cases.push(acked('roomAddToList(room, "whitelist", [100 KB name])', 'roomAddToList', (c) => [c.room, 'whitelist', [long]],
    equals([null, null]), { room: true }))
  cases.push(acked('roomUserSeen(room, 100 KB name)', 'roomUserSeen', (c) => [c.room, long],
    equals([null, { joined: false, timestamp: null }]), { room: true }))
  cases.push(systemMessageCase('systemMessage(900 KB string)', 's'.repeat(900000), (got) => assert.equal(got.length, 900000)))
  cases.push(acked('roomCreate(100 KB name with a control char): invalidName', 'roomCreate', [long + '\u0001', false],
    equals([P + `String ${long}\u0001 contains invalid characters`, null])))

  // arrays of 10k elements (default --room-list-size-limit 10000, --direct-list-size-limit 1000)
  const names = (n, p = 'w') => Array.from({ length: n }, (_, i) => `${p}${i}`)
  cases.push({
    label: 'roomAddToList(room, "whitelist", 10k names), then one more: listLimitExceeded',
    room: true,
    async run (ctx) {
      assert.deepEqual(await ctx.main.call('roomAddToList', ctx.room, 'whitelist', names(10000)), [null, null])
      const [err, list] = await ctx.main.call('roomGetAccessList', ctx.room, 'whitelist')
      assert.equal(err, null)
      assert.equal(list.length, 10000)
      assert.deepEqual(await ctx.main.call('roomAddToList', ctx.room, 'whitelist', ['one']), [P + 'Exceeded whitelist size limit', null])
      assert.deepEqual(await ctx.main.call('roomRemoveFromList', ctx.room, 'whitelist', names(10000)), [null, null])
    }
  })
  cases.push(acked('roomAddToList(room, "blacklist", 10001 names): listLimitExceeded', 'roomAddToList',
    (c) => [c.room, 'blacklist', names(10001)], equals([P + 'Exceeded blacklist size limit', null]), { room: true }))
  cases.push(acked('directAddToList("blacklist", 10k names): listLimitExceeded', 'directAddToList',
    ['blacklist', names(10000)], equals([P + 'Exceeded blacklist size limit', null])))
  const nums = Array.from({ length: 10000 }, (_, i) => i)
  cases.push(acked('roomJoin(array of 10k numbers)', 'roomJoin', [nums], equals(badArg(0, nums))))
  cases.push(acked('roomAddToList(room, "whitelist", 10k nulls)', 'roomAddToList', (c) => [c.room, 'whitelist', new Array(10000).fill(null)],
    equals(badArg(2, new Array(10000).fill(null))), { room: true }))
  cases.push(systemMessageCase('systemMessage(10k mixed elements)', Array.from({ length: 10000 }, (_, i) => [i, 's' + i, null, {}][i % 4])))
  cases.push(systemMessageCase('systemMessage(10k empty arrays)', Array.from({ length: 10000 }, () => [])))

  // NaN / Infinity (sent as null) and undefined arguments (sent as null)
  cases.push(acked('roomCreate(name, undefined)', 'roomCreate', ['u', undefined], equals(badArg(1, null))))
  cases.push(acked('roomCreate(undefined, false)', 'roomCreate', [undefined, false], equals(badArg(0, null))))
  cases.push(acked('roomAddToList(room, undefined, ["a"])', 'roomAddToList', (c) => [c.room, undefined, ['a']], equals(badArg(1, null)), { room: true }))
  cases.push(acked('roomAddToList(room, "whitelist", ["a", undefined])', 'roomAddToList', (c) => [c.room, 'whitelist', ['a', undefined]],
    equals(badArg(2, ['a', null])), { room: true }))
  cases.push(acked('roomMessage(room, {textMessage: undefined}) is {}', 'roomMessage', (c) => [c.room, { textMessage: undefined }],
    equals(badArg(1, {})), { room: true }))
  cases.push(acked('roomMessage(room, {textMessage: "x", extra: undefined}) is {textMessage: "x"}', 'roomMessage',
    (c) => [c.room, { textMessage: 'x', extra: undefined }], equals([null, 1]), { room: true }))
  cases.push(acked('roomJoin(room, undefined, undefined)', 'roomJoin', (c) => [c.room, undefined, undefined], equals([null, 1]), { room: true }))
  cases.push(acked('roomHistoryGet(room, undefined, 1)', 'roomHistoryGet', (c) => [c.room, undefined, 1], equals(badArg(1, null)), { room: true }))
  cases.push(acked('directSetWhitelistMode(NaN)', 'directSetWhitelistMode', [NaN], equals(badArg(0, null))))
  cases.push(acked('systemMessage() without arguments', 'systemMessage', [], equals([P + 'Expected 1 arguments, got 0', null])))
  cases.push(systemMessageCase('systemMessage(undefined) is null', undefined, null))
  cases.push(systemMessageCase('systemMessage(NaN) is null', NaN, null))
  cases.push(acked('roomUserSeen(room)', 'roomUserSeen', (c) => [c.room], equals([P + 'Expected 2 arguments, got 1', null]), { room: true }))
  // values of the wrong type everywhere
  for (const [cmd, checkers] of Object.entries(COMMANDS)) {
    if (checkers.length === 0 || checkers[0] === 'any') continue
    cases.push(acked(`${cmd}({}, ...): badArgument at 0`, cmd, checkers.map(() => ({})), equals(badArg(0, {}))))
  }
  return cases
}

// ---------------------------------------------------------------- fuzz

function mulberry32 (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const CHARS = ['a', 'b', 'Z', '0', ' ', ':', '{', '}', '"', '\\', '/', '%s', '%d', '%j', '\u0000', '\u0001', '\n', '\t', '\u001f',
  '\u007f', '\u0080', 'é', '✓', '\u2028', '\ufeff', '\ufffd', '\uffff', '\ud800', '\udbff', '\udc00', '\udfff',
  '\ud83d\ude00', '\ud800\ud800', '\udc00\ud800']
const SPECIAL_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'textMessage', '_placeholder', 'num',
  'type', 'data', 'id', 'author', 'timestamp', '']
const NUMBERS = [0, -0, 1, -1, 2, 1.5, -1.5, 0.5, 1e308, -1e308, 5e-324, 2 ** 53 + 1, 2 ** 31, -(2 ** 31), 2 ** 32,
  1e21, 1e-7, NaN, Infinity, -Infinity, 100, 10000]
const HOSTILE_EVENT_NAMES = EVENT_NAMES.filter(n => n.length < 1000)

class Gen {
  constructor (seed, pools) {
    this.r = mulberry32(seed)
    this.pools = pools
  }

  int (n) { return Math.floor(this.r() * n) }
  chance (p) { return this.r() < p }
  pick (a) { return a[this.int(a.length)] }

  string () {
    const x = this.r()
    if (x < 0.25) return this.pick([...this.pools.rooms, ...this.pools.users, ...this.pools.lists])
    if (x < 0.4) return this.pick([...this.pools.rooms, ...this.pools.users]) + this.pick(CHARS)
    if (x < 0.85) {
      let s = ''
      const n = this.int(12)
      for (let i = 0; i < n; i++) s += this.pick(CHARS)
      return s
    }
    if (x < 0.99) return this.pick(CHARS).repeat(1 + this.int(3000))
    return 'h'.repeat(this.int(100000)) + this.pick(CHARS)
  }

  binary () {
    const n = this.chance(0.02) ? this.int(200000) : this.int(40)
    const b = Buffer.alloc(n)
    for (let i = 0; i < Math.min(n, 64); i++) b[i] = this.int(256)
    return this.chance(0.5) ? b : new Uint8Array(b)
  }

  leaf () {
    const x = this.r()
    if (x < 0.1) return null
    if (x < 0.2) return this.chance(0.5)
    if (x < 0.4) return this.chance(0.7) ? this.pick(NUMBERS) : (this.r() - 0.5) * 10 ** this.int(30)
    if (x < 0.45) return undefined
    if (x < 0.9) return this.string()
    return this.binary()
  }

  value (depth = 0) {
    const x = this.r()
    if (depth > 3 || x < 0.5) return this.leaf()
    if (x < 0.65) return Array.from({ length: this.int(5) }, () => this.value(depth + 1))
    if (x < 0.8) {
      const o = {}
      const n = this.int(5)
      // own properties, as JSON.parse makes them ('__proto__' included)
      for (let i = 0; i < n; i++) {
        const key = this.chance(0.4) ? this.pick(SPECIAL_KEYS) : this.string()
        Object.defineProperty(o, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true })
      }
      return o
    }
    if (x < 0.87) return this.nest(1 + this.int(300))
    if (x < 0.9) return { textMessage: this.string(), ...(this.chance(0.3) ? { [this.pick(SPECIAL_KEYS)]: this.value(depth + 1) } : {}) }
    if (x < 0.93) return { _placeholder: this.chance(0.8) ? true : 1, num: this.pick([0, 1, 7, -1, '0', null]) }
    if (x < 0.95) return { type: 'Buffer', data: Array.from({ length: this.int(5) }, () => this.pick([0, 255, 256, -1, 'x'])) }
    if (x < 0.97) return JSON.parse(this.pick(['{"__proto__":{"textMessage":"x"}}', '{"constructor":{"prototype":{"x":1}}}', '{"__proto__":null}']))
    if (x < 0.975) return Array.from({ length: 5000 + this.int(5001) }, (_, i) => this.chance(0.001) ? this.leaf() : i)
    return this.leaf()
  }

  nest (depth) {
    let v = this.leaf()
    for (let i = 0; i < depth; i++) v = this.chance(0.5) ? [v] : { [this.chance(0.8) ? 'a' : this.string()]: v }
    return v
  }

  plausible (checker) {
    const { rooms, users, lists } = this.pools
    switch (checker) {
      case 'str': return this.chance(0.8) ? this.pick(this.chance(0.7) ? rooms : [...users, ...lists]) : this.string()
      case 'bool': return this.chance(0.8) ? false : true
      case 'str[]': return Array.from({ length: this.int(4) }, () => this.chance(0.8) ? this.pick(users) : this.string())
      case 'num>=0': return this.pick([0, 1, 5, 100])
      case 'num>=1': return this.pick([1, 10, 100])
      case 'msg': return { textMessage: this.chance(0.7) ? 'hello' : this.string() }
      default: return this.value()
    }
  }

  request (nsockets) {
    const sock = this.int(nsockets)
    if (this.chance(0.05)) {
      let ev = this.chance(0.5) ? this.pick(HOSTILE_EVENT_NAMES) : this.string()
      if (Object.hasOwn(COMMANDS, ev)) ev += '\u0000'
      return { sock, ev, args: Array.from({ length: this.int(3) }, () => this.value()), unknown: true }
    }
    const ev = this.pick(COMMAND_NAMES)
    const checkers = COMMANDS[ev]
    let args
    if (this.chance(0.1)) {
      args = Array.from({ length: this.int(checkers.length + 4) }, () => this.chance(0.5) ? this.value() : this.plausible(this.pick(['str', 'bool', 'msg'])))
    } else {
      // roomDelete is mostly made harmless, so the pools' rooms stay
      args = checkers.map((c) => this.chance(0.6) ? this.plausible(c) : this.value())
      if (ev === 'roomDelete' && this.chance(0.9) && this.pools.rooms.includes(args[0])) args[0] = this.string() + '\u0001'
      if (ev === 'roomSetWhitelistMode' && args[1] === true && this.chance(0.9)) args[1] = false
      if (this.chance(0.2)) for (let i = this.int(4); i >= 0; i--) args.push(this.value())
    }
    return { sock, ev, args, unknown: false }
  }
}

/** Binary attachments of a request. */
function attachments (args) {
  let n = 0
  const stack = [args]
  while (stack.length) {
    const x = stack.pop()
    if (x instanceof Uint8Array) n++
    else if (x && typeof x === 'object') for (const y of Object.values(x)) stack.push(y)
  }
  return n
}

/**
 * Bytes of a request on the wire: its JSON text plus its attachments
 * (socket.io-client 2 sends a Uint8Array as a JSON object, ~10 bytes each).
 */
function wireSize (ev, args, version) {
  let bin = 0
  const json = JSON.stringify([ev, ...args], function (k, v) {
    const orig = this[k]
    if (orig instanceof Uint8Array) {
      bin += version === 2 && !Buffer.isBuffer(orig) ? orig.length * 10 : orig.length
      return 0
    }
    return v
  })
  return Buffer.byteLength(json) + bin + 40
}

const FUZZ_SEED = Number(process.env.FUZZ_SEED || 20261205)
const FUZZ_REQUESTS = Number(process.env.FUZZ_REQUESTS || 3000)
const FUZZ_USERS = 4
const FUZZ_SOCKETS_PER_USER = Number(process.env.FUZZ_SOCKETS_PER_USER || 3)
const FUZZ_IN_FLIGHT = 20
// below the default --max-payload-bytes (1000000) with room for the
// packet's framing; socket.io-client 2 over HTTP long-polling sends all
// buffered packets in one POST, which the server checks as a whole, so
// those sockets also keep the bytes in flight below it (see the
// 'several packets in one POST' test)
const FUZZ_MAX_BYTES = 900000
const FUZZ_ACK_TIMEOUT = Number(process.env.FUZZ_ACK_TIMEOUT || ACK_TIMEOUT)
const TRANSPORTS = [undefined, ['websocket'], ['polling']]

async function fuzz (url, version) {
  const tag = `fz${version}`
  const users = Array.from({ length: FUZZ_USERS }, (_, i) => `${tag}u${i}`)
  const rooms = []
  const nsockets = FUZZ_USERS * FUZZ_SOCKETS_PER_USER
  const slotUser = (s) => users[s % FUZZ_USERS]
  const slotTransports = (s) => TRANSPORTS[Math.floor(s / FUZZ_USERS) % TRANSPORTS.length]
  const login = (s) => loginWatched(url, slotUser(s), { version, transports: slotTransports(s) })
  const slots = []
  for (let s = 0; s < nsockets; s++) slots.push({ w: await login(s), recent: [] })
  // rooms of every user, each socket joined to some of them
  for (let i = 0; i < FUZZ_USERS; i++) {
    for (const k of ['a', 'b']) {
      const room = `${tag}r${i}${k}`
      rooms.push(room)
      assert.deepEqual(await slots[i].w.call('roomCreate', room, false), [null, null])
    }
  }
  for (let s = 0; s < nsockets; s++) {
    for (let j = 0; j < rooms.length; j++) {
      if ((s + j) % 3 !== 0) assert.equal((await slots[s].w.call('roomJoin', rooms[j]))[0], null)
    }
  }
  const gen = new Gen(FUZZ_SEED + version, { rooms, users, lists: ['whitelist', 'blacklist', 'adminlist', 'userlist', 'nolist'] })
  const queues = Array.from({ length: nsockets }, () => [])
  for (let n = 0; n < FUZZ_REQUESTS; n++) {
    // under the payload limit, and at most 10 attachments: the client
    // libraries cannot decode more (systemMessage passes them on)
    const fits = (r) => (r.size = wireSize(r.ev, r.args, version)) <= FUZZ_MAX_BYTES && attachments(r.args) <= 10
    let req = gen.request(nsockets)
    for (let tries = 0; !fits(req) && tries < 10; tries++) req = gen.request(nsockets)
    if (!fits(req)) req = { sock: req.sock, ev: 'listOwnSockets', args: [], unknown: false, size: 40 }
    req.n = n
    queues[req.sock].push(req)
  }

  const stats = { requests: 0, unknownEvents: 0, acked: 0, missingAcks: 0, lateAcks: 0, doubleAcks: 0, strayAcks: 0,
    unknownAcked: 0, closedSockets: 0, lostWithClose: 0, oddAcks: 0, reconnectFailures: 0, clientDecodeErrors: 0 }
  const decodeErrors = new Set()
  const missing = []
  const closures = []
  const odd = []

  function retire (w) {
    stats.doubleAcks += [...w.ackCount].filter(([, c]) => c > 1).length
    stats.strayAcks += w.stray.length
    stats.unknownAcked += [...w.unknownIds.keys()].filter(id => w.ackCount.has(id)).length
    stats.clientDecodeErrors += w.clientErrors.length
    for (const e of w.clientErrors) decodeErrors.add(e)
  }

  async function runSlot (s) {
    const slot = slots[s]
    const queue = queues[s]
    const inFlight = new Set()
    const batching = version === 2 && !(slotTransports(s) && slotTransports(s)[0] === 'websocket')
    let bytes = 0
    let closedSignal = null
    const watchClose = (w) => {
      closedSignal = new Promise((resolve) => w.c.socket.on('disconnect', resolve))
    }
    // closed by the server: count it, keep the last requests for the
    // reproducers, go on with a fresh socket of the same user
    const replace = async () => {
      const w = slot.w
      stats.closedSockets++
      closures.push({ reason: w.closedBy[0], recent: slot.recent.slice(), user: slotUser(s), transports: slotTransports(s),
        decodeErrors: w.clientErrors.slice(), engineClose: w.engineClose, received: w.received.slice() })
      slot.recent = []
      await Promise.all(inFlight) // all rejected by the close already
      retire(w)
      w.close()
      slot.w = null
      for (let k = 0; k < 3 && !slot.w; k++) {
        try { slot.w = await login(s) } catch { stats.reconnectFailures++ }
      }
      if (slot.w) watchClose(slot.w)
    }
    watchClose(slot.w)
    let i = 0
    while (i < queue.length) {
      if (slot.w.closedBy.length) {
        await replace()
        if (!slot.w) break
        continue
      }
      if (inFlight.size >= FUZZ_IN_FLIGHT || (batching && inFlight.size > 0 && bytes + queue[i].size > FUZZ_MAX_BYTES)) {
        await Promise.race([...inFlight, closedSignal])
        continue
      }
      const req = queue[i++]
      const w = slot.w
      slot.recent.push(req)
      if (slot.recent.length > 40) slot.recent.shift()
      if (req.unknown) {
        stats.unknownEvents++
        w.sendUnknown(req.ev, req.args).catch(() => {})
        // no ack to wait for: a round trip later it has left the client
        if (batching) {
          bytes += req.size
          const p = w.call('listOwnSockets').catch(() => {}).finally(() => { bytes -= req.size; inFlight.delete(p) })
          inFlight.add(p)
        }
        continue
      }
      stats.requests++
      bytes += req.size
      const t0 = Date.now()
      const p = w.request(req.ev, req.args, { timeout: FUZZ_ACK_TIMEOUT }).then((ack) => {
        stats.acked++
        try { sensible(ack) } catch { stats.oddAcks++; odd.push({ req, ack, user: slotUser(s), transports: slotTransports(s) }) }
      }, (err) => {
        if (/closed/.test(err.message)) stats.lostWithClose++
        else {
          stats.missingAcks++
          missing.push({ req, ms: Date.now() - t0, user: slotUser(s), transports: slotTransports(s) })
        }
      }).finally(() => { bytes -= req.size; inFlight.delete(p) })
      inFlight.add(p)
    }
    await Promise.all(inFlight)
    if (!slot.w) return
    // one more round trip on the last socket
    try {
      await slot.w.call('listOwnSockets')
    } catch {}
    if (slot.w.closedBy.length) await replace()
  }
  await Promise.all(slots.map((_, s) => runSlot(s)))
  await sleep(300) // an absence window for late, double or unexpected acks
  for (const slot of slots) {
    if (slot.w) {
      retire(slot.w)
      slot.w.close()
    }
  }
  return { stats, missing, closures, odd, decodeErrors: [...decodeErrors] }
}

/**
 * Replays one request alone on a fresh socket of `user`: 'closed (reason)',
 * 'noAck', 'ok' (acked, and the socket answers a further request), or the
 * problem seen (an unknown event acked...). The request is followed at
 * once by `listOwnSockets`: once that is acked, a missing ack is declared
 * after a short window instead of the full timeout.
 */
async function replay (url, version, user, transports, req) {
  let w
  try {
    w = await loginWatched(url, user, { version, transports })
  } catch (e) {
    return `login failed: ${e.message.slice(0, 100)}`
  }
  try {
    let acked = null
    let failed = null
    if (req.unknown) {
      await w.sendUnknown(req.ev, req.args)
    } else {
      w.request(req.ev, req.args, { timeout: FUZZ_ACK_TIMEOUT }).then((ack) => { acked = ack }, (e) => { failed = e })
    }
    try {
      await w.call('listOwnSockets')
    } catch (e) {
      if (w.closedBy.length) return `closed (${w.closedBy[0]})`
      return 'follow-up request not acked'
    }
    for (let t = 0; t < 30 && !req.unknown && !acked && !failed; t++) await sleep(10)
    await sleep(20)
    if (w.closedBy.length) return `closed (${w.closedBy[0]})`
    if (!req.unknown && !acked) return 'noAck'
    const p = w.problems()
    if (p.length) return p.join('; ')
    if (acked) {
      try { sensible(acked) } catch { return `odd ack ${JSON.stringify(acked[0]).slice(0, 100)}` }
    }
    return 'ok'
  } finally {
    w.close()
  }
}

/** Smaller variants of a value, most aggressive first. */
function smaller (v) {
  const out = []
  if (typeof v === 'string') {
    const n = v.length
    if (n === 0) return out
    out.push('')
    if (n > 1) {
      out.push(v.slice(0, n >> 1), v.slice(n >> 1))
      if (n > 8) out.push(v.slice(0, n >> 2), v.slice(n >> 2))
    }
    if (n <= 16) {
      for (let i = 0; i < n; i++) out.push(v[i])
      for (let i = 0; i < n; i++) out.push(v.slice(0, i) + v.slice(i + 1))
    }
    const wf = wellFormed(v)
    if (n > 16 && wf !== v) {
      // keep only the first bad code unit
      const i = [...Array(n).keys()].find(j => wf[j] !== v[j])
      out.push(v[i], v.slice(Math.max(0, i - 2), i + 1))
    }
    if (n > 16 && /[\u0000-\u001f"\\]/.test(v)) {
      const i = v.search(/[\u0000-\u001f"\\]/)
      out.push(v[i])
    }
    return out
  }
  if (typeof v === 'number') return v === 0 ? [] : [0]
  if (v === null || typeof v === 'boolean') return []
  if (v === undefined) return [null]
  if (v instanceof Uint8Array) return v.length > 1 ? ['x', Buffer.from([1])] : ['x']
  if (typeof v === 'object') {
    const d = maxDepth(v)
    // the object keys and strings inside, each alone: most failures come
    // from one key or one string
    if (d > 1) {
      const seen = new Set()
      const stack = [v]
      while (stack.length && out.length < 40) {
        const x = stack.pop()
        if (typeof x === 'string' && !seen.has('s' + x)) { seen.add('s' + x); out.push(x) }
        if (!x || typeof x !== 'object' || x instanceof Uint8Array) continue
        if (!Array.isArray(x)) {
          for (const k of Object.keys(x)) {
            if (seen.has('k' + k)) continue
            seen.add('k' + k)
            const o = {}
            Object.defineProperty(o, k, { value: 0, enumerable: true, writable: true, configurable: true })
            out.push(o)
          }
        }
        for (const y of Object.values(x)) stack.push(y)
      }
    }
    if (d > 8) {
      // halve the nesting, keeping the deepest leaf
      let leaf = v
      let path = []
      for (;;) {
        const child = leaf && typeof leaf === 'object' && !(leaf instanceof Uint8Array)
          ? Object.values(leaf).find(x => x && typeof x === 'object' && !(x instanceof Uint8Array) && maxDepth(x) === maxDepth(leaf) - 1)
          : undefined
        if (child === undefined) break
        path.push(Array.isArray(leaf))
        leaf = child
      }
      path = path.slice(path.length >> 1)
      let half = leaf
      for (let i = path.length - 1; i >= 0; i--) half = path[i] ? [half] : { a: half }
      out.push(half, nestArray(d >> 1), nestArray(d - 1))
    }
    const entries = Object.entries(v)
    for (const [, x] of entries) out.push(x)
    if (Array.isArray(v)) {
      out.push([])
      if (v.length > 4) out.push(v.slice(0, v.length >> 1), v.slice(v.length >> 1))
      for (let i = 0; i < v.length && i < 8; i++) out.push(v.slice(0, i).concat(v.slice(i + 1)))
    } else {
      const obj = (pairs) => {
        const o = {}
        for (const [k, x] of pairs) Object.defineProperty(o, k, { value: x, enumerable: true, writable: true, configurable: true })
        return o
      }
      out.push({})
      for (let i = 0; i < entries.length && i < 8; i++) out.push(obj(entries.filter((_, j) => j !== i)))
      for (let i = 0; i < entries.length && i < 8; i++) if (entries[i][0] !== 'k') out.push(obj(entries.map((e, j) => j === i ? ['k', e[1]] : e)))
      for (let i = 0; i < entries.length && i < 8; i++) {
        for (const k of smaller(entries[i][0]).slice(0, 12)) {
          if (!entries.some(([k2]) => k2 === k)) out.push(obj(entries.map((e, j) => j === i ? [k, e[1]] : e)))
        }
      }
      for (let i = 0; i < entries.length && i < 8; i++) {
        for (const x of smaller(entries[i][1]).slice(0, 6)) out.push(obj(entries.map((e, j) => j === i ? [e[0], x] : e)))
      }
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length && i < 8; i++) {
        for (const x of smaller(v[i]).slice(0, 6)) out.push(v.map((e, j) => j === i ? x : e))
      }
    }
  }
  return out
}

/**
 * Greedy shrinking: fewer arguments, then smaller arguments (and a
 * shorter unknown event name) while the replay fails the same way.
 */
async function shrink (url, version, user, transports, req, outcome, budget = 80) {
  let cur = req
  const fails = async (cand) => {
    if (budget-- <= 0) return false
    return (await replay(url, version, user, transports, cand)) === outcome
  }
  let progress = true
  while (progress && budget > 0) {
    progress = false
    for (let i = cur.args.length - 1; i >= 0 && budget > 0; i--) {
      const dropped = { ...cur, args: cur.args.slice(0, i).concat(cur.args.slice(i + 1)) }
      if (await fails(dropped)) { cur = dropped; progress = true; continue }
      for (const x of smaller(cur.args[i])) {
        const cand = { ...cur, args: cur.args.map((a, j) => j === i ? x : a) }
        if (await fails(cand)) { cur = cand; progress = true; break }
      }
    }
    if (cur.unknown) {
      for (const x of smaller(cur.ev)) {
        if (typeof x !== 'string' || Object.hasOwn(COMMANDS, x)) continue
        const cand = { ...cur, ev: x }
        if (await fails(cand)) { cur = cand; progress = true; break }
      }
    }
  }
  return cur
}

function countBy (list) {
  const out = {}
  for (const x of list) out[x] = (out[x] || 0) + 1
  return out
}

async function reproducers (url, version, result) {
  const seen = new Set()
  const found = []
  const failing = []
  for (const m of result.missing) failing.push({ req: m.req, user: m.user, transports: m.transports, kind: 'missing ack' })
  for (const o of result.odd) failing.push({ req: o.req, user: o.user, transports: o.transports, kind: `odd ack ${JSON.stringify(o.ack[0]).slice(0, 60)}` })
  // a socket closed by the server: the unknown events sent just before it
  // first (the usual cause), then the last requests
  const closing = []
  for (const c of result.closures) {
    const recent = c.recent.slice(-25)
    const known = recent.filter(r => !r.unknown).slice(-3)
    for (const req of [...recent.filter(r => r.unknown).reverse(), ...known.reverse()]) {
      closing.push({ req, user: c.user, transports: c.transports, kind: `socket closed (${c.reason})`, unknown: req.unknown, closure: c })
    }
  }
  failing.push(...closing.filter(f => f.unknown), ...closing.filter(f => !f.unknown))
  const candidates = []
  const perKind = new Map()
  // an unknown event: what its name needs (the arguments of an unknown
  // event are not read); a command: its name and what its arguments hold
  const signature = (req) => req.unknown
    ? `unknown:${features([req.ev]).join(',')}`
    : `${req.ev}|${features(req.args).join(',')}|${req.args.length}`
  const closers = new Set() // signatures of requests whose replay closed the socket
  for (const f of failing) {
    const kind = f.kind.split(' ')[0]
    const sig = `${signature(f.req)}|${kind}`
    if (seen.has(sig) || (perKind.get(kind) || 0) >= 12) continue
    seen.add(sig)
    perKind.set(kind, (perKind.get(kind) || 0) + 1)
    candidates.push(f)
  }
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < candidates.length && found.length < 40) {
      const f = candidates[next++]
      const outcome = await replay(url, version, f.user, f.transports, f.req)
      if (outcome === 'ok') continue
      if (outcome.startsWith('closed')) closers.add(signature(f.req))
      const small = await shrink(url, version, f.user, f.transports, f.req, outcome)
      const line = `${outcome}: ${small.unknown ? 'unknown event ' : ''}${showCall(small.ev, small.args)}` +
        ` [${features([small.ev, ...small.args]).join(', ') || 'no special feature'}]` +
        ` (transports ${f.transports ? f.transports.join() : 'default'}; seen in the run as: ${f.kind})`
      found.push(line)
    }
  }))
  // closures no single request brings about (caused by what the socket
  // received, or by the sequence): the socket's last requests
  for (const c of result.closures) {
    // explained when one of its last requests is like one that closed a socket alone
    if (c.recent.some(r => closers.has(signature(r)))) continue
    found.push(`socket closed (${c.reason}) on a ${c.transports ? c.transports.join() : 'default'} socket, not reproduced by a single request` +
      (c.decodeErrors.length ? `; the client had failed to decode: ${[...new Set(c.decodeErrors)].join(', ')}` : '') +
      `; Engine.IO close: ${c.engineClose}; last packets received (type#id:event): ${c.received.join(' ')}` +
      `; its last requests: ${c.recent.slice(-4).map(r => (r.unknown ? 'unknown ' : '') + showCall(r.ev, r.args).slice(0, 200)).join(' | ')}`)
  }
  return [...new Set(found)].sort()
}

// ---------------------------------------------------------------- tests

for (const { version, skip } of GENERATIONS) {
  describe(`hostile inputs, socket.io-client v${version}`, { skip }, () => {
    const srv = useServer(before, after, FLAGS)
    const log = watchLog(srv)
    const env = { version }
    before(async () => {
      env.url = srv.url
      env.peer = await loginWatched(srv.url, uniq('peer'), { version })
    })
    after(() => env.peer && env.peer.close())

    it('lone surrogates become U+FFFD (names, messages, list entries, recipients, keys)', { skip: OURS_ONLY }, async () => {
      await runCases(env, surrogateCases())
    })
    it('deeply nested arguments (roomJoin, systemMessage, roomMessage, extra arguments)', async () => {
      await runCases(env, depthCases())
    })
    it('odd event names get no reply and keep the socket open; odd extra arguments are ignored', async () => {
      await runCases(env, eventNameCases())
    })
    it('binary attachments in every argument position', async () => {
      await runCases(env, binaryCases(version))
    })
    it('huge numbers, prototype keys, long strings, 10k arrays, NaN/undefined arguments', async () => {
      await runCases(env, valueCases(), { concurrency: 16 })
    })
    it('the peer socket was never closed', async () => {
      await env.peer.settle()
    })
    it('the server logged no WARN or ERROR line', { skip: OURS_ONLY }, () => {
      if (process.env.HOSTILE_SERVER_LOG) fs.appendFileSync(process.env.HOSTILE_SERVER_LOG, strip(srv.output()))
      const bad = log.badLines()
      assert.deepEqual(bad, [], `server log lines:\n${bad.join('\n')}`)
    })
  })
}

for (const { version, skip } of GENERATIONS) {
  describe(`fuzz, socket.io-client v${version}`, { skip }, () => {
    const srv = useServer(before, after, FLAGS)
    const log = watchLog(srv)

    it(`fuzz v${version} seed=${FUZZ_SEED} requests=${FUZZ_REQUESTS}: every request acked once, no socket closed`, async () => {
      const result = await fuzz(srv.url, version)
      const s = result.stats
      console.log(`fuzz v${version} seed=${FUZZ_SEED} requests=${s.requests} unknownEvents=${s.unknownEvents} acked=${s.acked} ` +
        `missingAcks=${s.missingAcks} doubleAcks=${s.doubleAcks} closedSockets=${s.closedSockets} ` +
        `lostWithClose=${s.lostWithClose} strayAcks=${s.strayAcks} unknownAcked=${s.unknownAcked} oddAcks=${s.oddAcks} ` +
        `reconnectFailures=${s.reconnectFailures} clientDecodeErrors=${s.clientDecodeErrors}` +
        (result.decodeErrors.length ? ` (${result.decodeErrors.join('; ')})` : '') +
        (result.closures.length ? ` closeReasons=${JSON.stringify(countBy(result.closures.map(c => c.reason)))}` : ''))
      for (const o of result.odd.slice(0, 10)) console.log(`fuzz v${version} odd ack: ${showCall(o.req.ev, o.req.args)} -> ${show(o.ack).slice(0, 300)}`)
      let repro = []
      if (s.missingAcks || s.closedSockets || s.oddAcks) {
        repro = await reproducers(srv.url, version, result)
        for (const r of repro) console.log(`fuzz v${version} reproducer: ${r}`)
      }
      const summary = `missingAcks=${s.missingAcks} doubleAcks=${s.doubleAcks} closedSockets=${s.closedSockets} ` +
        `strayAcks=${s.strayAcks} unknownAcked=${s.unknownAcked} oddAcks=${s.oddAcks}\n${repro.join('\n')}`
      assert.equal(s.missingAcks, 0, summary)
      assert.equal(s.doubleAcks, 0, summary)
      assert.equal(s.closedSockets, 0, summary)
      assert.equal(s.strayAcks + s.unknownAcked, 0, summary)
      assert.equal(s.oddAcks, 0, summary)
      assert.equal(s.reconnectFailures, 0, summary)
      assert.equal(s.clientDecodeErrors, 0, summary)
    })
    it('the server logged no WARN or ERROR line', { skip: OURS_ONLY }, () => {
      if (process.env.HOSTILE_SERVER_LOG) fs.appendFileSync(process.env.HOSTILE_SERVER_LOG, strip(srv.output()))
      const bad = log.badLines()
      assert.deepEqual(bad, [], `server log lines:\n${bad.join('\n')}`)
    })
  })
}

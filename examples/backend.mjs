// A backend for chat-service in plain Node.js (no dependencies, no
// framework): the server calls it over HTTP for the hooks it is started
// with (interface.md 7), and it calls the server's admin API (4, 4.1).
//
//   - `connect`: users sign in with a password (checked here, against
//     scrypt hashes) instead of the development `--auth query`;
//   - `roomMessage:before`: messages are validated and rewritten (trimmed,
//     a word list masked, refused when empty or too long);
//   - `roomMessage:after`: every accepted message is also stored here,
//     one JSON line each, in a file of this backend's own;
//   - on every sign-in it pushes a "sys" event to every connected socket
//     with the admin API's `emitToAll`.
//
// Run (the README's "Extending the server from your backend"):
//   node examples/backend.mjs --port 4000 --chat http://127.0.0.1:8000 \
//     --admin-token ADMIN --hook-token HOOK --users alice:wonderland,bob:builder
//   chat-service --admin-token ADMIN --hook-url http://127.0.0.1:4000/hooks \
//     --hook-token HOOK --hooks connect,roomMessage:before,roomMessage:after
// A client then connects with `auth: {user: 'alice', password: 'wonderland'}`
// (or the query `user=alice&password=wonderland`).
import { createServer } from 'node:http'
import { appendFileSync } from 'node:fs'
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'
import { parseArgs } from 'node:util'

const { values: opts } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '4000' },
    chat: { type: 'string', default: 'http://127.0.0.1:8000' },
    'admin-token': { type: 'string' },
    'hook-token': { type: 'string' },
    users: { type: 'string', default: 'alice:wonderland,bob:builder' },
    store: { type: 'string', default: 'messages.jsonl' },
    'max-length': { type: 'string', default: '500' },
    masked: { type: 'string', default: 'darn,heck' }
  }
})
const MAX_LENGTH = Number(opts['max-length'])
const MASKED = opts.masked.split(',').filter(Boolean)

// The user database: only scrypt hashes are kept.
const users = new Map()
for (const entry of opts.users.split(',').filter(Boolean)) {
  const [name, password] = entry.split(':')
  const salt = randomBytes(16)
  users.set(name, { salt, hash: scryptSync(password, salt, 32) })
}

function checkPassword (name, password) {
  const user = users.get(name)
  if (!user || typeof password !== 'string') return false
  return timingSafeEqual(user.hash, scryptSync(password, user.salt, 32))
}

// The admin API: POST /api/{method} with the arguments as a JSON array.
async function admin (method, ...args) {
  const response = await fetch(`${opts.chat}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${opts['admin-token']}` },
    body: JSON.stringify(args)
  })
  const body = await response.json()
  if (!response.ok) throw new Error(`${method}: ${response.status} ${JSON.stringify(body.error)}`)
  return body.result
}

// One function per hook; each gets the request body and gives the answer.
const hooks = {
  connect ({ query, auth }) {
    const name = auth?.user ?? query.user
    const password = auth?.password ?? query.password
    if (!checkPassword(name, password)) return { error: 'wrong user name or password' }
    // After the answer: the user is being logged in meanwhile.
    setImmediate(() => {
      admin('emitToAll', 'sys', `${name} signed in`).catch(e => console.error('emitToAll failed:', e.message))
    })
    return { user: name, auth: { signedInAt: Date.now() } }
  },

  'roomMessage:before' ({ args: [room, message] }) {
    if (typeof message.textMessage !== 'string') return {} // another format: the server checks it
    let text = message.textMessage.trim().replace(/\s+/g, ' ')
    if (text === '') return { error: 'an empty message' }
    if (text.length > MAX_LENGTH) return { error: `a message longer than ${MAX_LENGTH} characters` }
    for (const word of MASKED) {
      text = text.replace(new RegExp(`\\b${word}\\b`, 'gi'), '*'.repeat(word.length))
    }
    return { args: [room, { ...message, textMessage: text }] }
  },

  'roomMessage:after' ({ user, args: [room, message], result }) {
    if (result) {
      const id = Array.isArray(result) ? result[0] : result
      appendFileSync(opts.store, JSON.stringify({ room, id, author: user, message, storedAt: Date.now() }) + '\n')
    }
    return {}
  }
}

function reply (res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/hooks') return reply(res, 404, { error: 'not found' })
  if (opts['hook-token'] && req.headers.authorization !== `Bearer ${opts['hook-token']}`) {
    return reply(res, 401, { error: 'unauthorized' })
  }
  const chunks = []
  req.on('data', chunk => chunks.push(chunk))
  req.on('end', () => {
    let call
    try {
      call = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      return reply(res, 400, { error: 'not JSON' })
    }
    const hook = hooks[call.hook]
    // A hook this backend does not handle: go on unchanged.
    reply(res, 200, hook ? hook(call) : {})
  })
})

server.listen(Number(opts.port), opts.host, () => {
  const { port } = server.address()
  console.log(`backend listening on http://${opts.host}:${port}/hooks`)
})

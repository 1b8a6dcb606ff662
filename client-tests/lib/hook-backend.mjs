// A backend for the HTTP hooks (interface.md 7), run as a process of its
// own by lib/hooks.mjs: a plain node:http server on a free loopback port
// that prints "hook backend listening on http://127.0.0.1:PORT".
//
//   POST /hooks             a hook call: recorded, answered by the first
//                           rule that matches (below), else `{}` (for
//                           `connect`: `{"user": <query.user>}`).
//   PUT  /control/rules     the rules, a JSON array (replaces them)
//   GET  /control/received  the hook calls so far, in arrival order:
//                           [{body, authorization, at}] (`at`: ms since start)
//   POST /control/reset     no rules, nothing received
//   GET  /control/stats     {connections}: TCP connections accepted so far
//
// A rule: {hook, user?, answer}; `user` matches the body's `user` (or the
// connect query's `user`). An answer: {status = 200, json?, raw? (a body
// string), bytes? (a body of that many `x`), delay? (ms before answering),
// location? (a Location header), hang? (never answer)}.
import http from 'node:http'

const started = Date.now()
let rules = []
let received = []
let connections = 0

function readBody (req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function defaultAnswer (body) {
  if (body.hook === 'connect') return { json: { user: body.query && body.query.user } }
  return { json: {} }
}

function answerFor (body) {
  const user = body.hook === 'connect' ? body.query && body.query.user : body.user
  const rule = rules.find(r => r.hook === body.hook && (r.user === undefined || r.user === user))
  return rule ? rule.answer : defaultAnswer(body)
}

async function hook (req, res) {
  const text = await readBody(req)
  let body
  try { body = JSON.parse(text) } catch { body = { unreadable: text } }
  received.push({ body, authorization: req.headers.authorization ?? null, at: Date.now() - started })
  const answer = answerFor(body)
  if (answer.hang) return
  if (answer.delay) await new Promise(resolve => setTimeout(resolve, answer.delay))
  const headers = {}
  if (answer.location) headers.location = answer.location
  let payload = ''
  if (answer.json !== undefined) {
    payload = JSON.stringify(answer.json)
    headers['content-type'] = 'application/json'
  } else if (answer.raw !== undefined) {
    payload = answer.raw
  } else if (answer.bytes !== undefined) {
    payload = '{"x":"' + 'x'.repeat(answer.bytes) + '"}'
    headers['content-type'] = 'application/json'
  }
  res.writeHead(answer.status ?? 200, headers)
  res.end(payload)
}

async function control (req, res, path) {
  let reply = {}
  if (req.method === 'PUT' && path === '/control/rules') {
    rules = JSON.parse(await readBody(req))
  } else if (req.method === 'GET' && path === '/control/received') {
    reply = received
  } else if (req.method === 'POST' && path === '/control/reset') {
    rules = []
    received = []
  } else if (req.method === 'GET' && path === '/control/stats') {
    reply = { connections }
  } else {
    res.writeHead(404)
    res.end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(reply))
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname
  const handle = path === '/hooks' && req.method === 'POST' ? hook(req, res) : control(req, res, path)
  handle.catch(error => {
    res.writeHead(500)
    res.end(String(error))
  })
})
server.on('connection', () => { connections += 1 })
server.keepAliveTimeout = 120000
server.listen(0, '127.0.0.1', () => {
  console.log(`hook backend listening on http://127.0.0.1:${server.address().port}`)
})
process.on('SIGTERM', () => process.exit(0))

#!/usr/bin/env node
// Launcher of the ORIGINAL Node.js chat-service 1.0.0 for the benchmark,
// configured as the Rust binary runs in it: rooms management enabled,
// default history sizes, login from the handshake query `user`, memory or
// Redis state (with the Redis socket.io adapter).
//
//   node server.js [--port N] [--host ADDR] [--state memory|redis]
//                  [--redis-url redis://127.0.0.1:6379]
//
// Prints `original listening on http://HOST:PORT` once the service is
// ready. --port 0 picks a free port: the original's own `port` option
// cannot (0 means its default 8000, and it binds every interface), so the
// HTTP server is created and bound here and handed to the service through
// its documented `transportOptions.http` option.
'use strict'

const http = require('http')
const ChatService = require('chat-service')

function parseArgs (argv) {
  const opts = { port: 8000, host: '127.0.0.1', state: 'memory', redisUrl: 'redis://127.0.0.1:6379' }
  for (let i = 0; i < argv.length; i++) {
    let [flag, value] = argv[i].split(/=(.*)/s)
    if (value === undefined) value = argv[++i]
    if (value === undefined) usage(`${flag} needs a value`)
    switch (flag) {
      case '--port': opts.port = Number(value); break
      case '--host': opts.host = value; break
      case '--state': opts.state = value; break
      case '--redis-url': opts.redisUrl = value; break
      default: usage(`unknown option ${flag}`)
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port')
  if (opts.state !== 'memory' && opts.state !== 'redis') usage('--state is memory or redis')
  return opts
}

function usage (reason) {
  console.error(`original: ${reason}`)
  console.error('usage: node server.js [--port N] [--host ADDR] [--state memory|redis] [--redis-url URL]')
  process.exit(2)
}

// The onConnect hook (the original has no default one): the user name is
// the handshake query parameter `user`, as with the Rust binary's
// `--auth query`. No name means no login (`loginRejected`). A hook
// answers with a promise or through its callback, not a plain value.
function onConnect (service, id) {
  const { query } = service.transport.getHandshakeData(id)
  return Promise.resolve(query.user)
}

function main () {
  const opts = parseArgs(process.argv.slice(2))
  const server = http.createServer()
  server.on('error', error => {
    console.error(`original: ${error.message}`)
    process.exit(1)
  })
  server.listen(opts.port, opts.host, () => {
    const { port } = server.address()
    const transportOptions = {
      http: server,
      // The engine settings of the Rust binary (src/server.rs).
      ioOptions: { pingInterval: 25000, pingTimeout: 5000, maxHttpBufferSize: 1e6 }
    }
    const options = {
      port,
      enableRoomsManagement: true,
      state: opts.state,
      transportOptions
    }
    if (opts.state === 'redis') {
      options.stateOptions = { redisOptions: [opts.redisUrl] }
      transportOptions.adapter = 'redis'
      transportOptions.adapterOptions = [opts.redisUrl]
    }
    const service = new ChatService(options, { onConnect })
    service.on('ready', () => {
      console.log(`original listening on http://${opts.host}:${port}`)
    })
    let closing = false
    const stop = () => {
      if (closing) return
      closing = true
      service.close()
        .catch(error => console.error(`original: close: ${error.message}`))
        .finally(() => process.exit(0))
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

main()

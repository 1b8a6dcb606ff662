// A chat client: logs in, joins a room, sends a message, reads the history.
//
// Run against a server on localhost:8000 (`cargo run --release`, or
// `cargo run --example server`):
//   NODE_PATH=client-tests/node_modules node examples/client.js [url] [user] [room]
// (after `npm ci` in client-tests/, which installs socket.io-client).
'use strict'
const { io } = require('socket.io-client')

const [url = 'http://localhost:8000', user = 'alice', room = 'lobby'] = process.argv.slice(2)
const socket = io(`${url}/chat-service`, { query: { user }, reconnection: false })

// Every request is acked as (error, data); make it a promise.
function call (command, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(command, ...args, (timeout, error, data) => {
      if (timeout) reject(new Error(`${command}: no answer`))
      else if (error) reject(new Error(`${command}: ${error.message || error}`))
      else resolve(data)
    })
  })
}

socket.on('roomMessage', (roomName, message) => {
  console.log(`[${roomName}] #${message.id} ${message.author}: ${message.textMessage}`)
})
socket.on('loginRejected', (error) => {
  console.error('login rejected:', error)
  process.exit(1)
})
socket.on('loginConfirmed', async (userName, authData) => {
  try {
    console.log(`logged in as ${userName} (socket ${authData.id})`)
    const njoined = await call('roomJoin', room)
    console.log(`joined ${room} (${njoined} of my sockets there)`)
    const id = await call('roomMessage', room, { textMessage: `hello from ${userName}` })
    console.log(`sent message #${id}`)
    const history = await call('roomRecentHistory', room)
    console.log(`history of ${room}, newest first:`)
    for (const m of history) console.log(`  #${m.id} ${m.author}: ${m.textMessage}`)
    socket.close()
  } catch (error) {
    console.error(error.message)
    process.exit(1)
  }
})
socket.on('connect_error', (error) => {
  console.error('cannot connect:', error.message)
  process.exit(1)
})

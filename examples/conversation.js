// A stored one-to-one conversation (README "Stored conversations"): one
// user writes to another who is offline; when that one logs in, the server
// tells it of the conversation (`conversations`), and the message is
// waiting in the conversation's room.
//
// Run against a server on localhost:8000 (`cargo run --release`):
//   NODE_PATH=client-tests/node_modules node examples/conversation.js [url] [from] [to]
// (after `npm ci` in client-tests/, which installs socket.io-client).
'use strict'
const { io } = require('socket.io-client')

const [url = 'http://localhost:8000', from = 'alice', to = 'bob'] = process.argv.slice(2)

/** Logs in as `user`; resolves with the socket and the first
 *  `conversations` event it gets (none for a user who has none yet). */
function login (user) {
  const socket = io(`${url}/chat-service`, { query: { user }, reconnection: false, forceNew: true })
  const conversations = new Promise((resolve) => socket.once('conversations', resolve))
  return new Promise((resolve, reject) => {
    socket.once('loginConfirmed', () => resolve({ socket, conversations }))
    socket.once('loginRejected', (error) => reject(new Error(`login rejected: ${JSON.stringify(error)}`)))
    socket.once('connect_error', (error) => reject(new Error(`cannot connect: ${error.message}`)))
  })
}

// Every request is acked as (error, data); make it a promise.
function call (socket, command, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(command, ...args, (timeout, error, data) => {
      if (timeout) reject(new Error(`${command}: no answer`))
      else if (error) reject(new Error(`${command}: ${error.message || error}`))
      else resolve(data)
    })
  })
}

async function main () {
  // The room of a conversation: both names sorted. The first join makes it.
  const room = `dm:${[from, to].sort().join(':')}`
  const writer = await login(from)
  await call(writer.socket, 'roomJoin', room)
  const id = await call(writer.socket, 'roomMessage', room, { textMessage: `hello ${to}, are you there?` })
  console.log(`${from} wrote message #${id} in ${room}, ${to} being offline`)
  writer.socket.close()

  const reader = await login(to)
  const list = await reader.conversations
  for (const { user, room } of list) {
    await call(reader.socket, 'roomJoin', room)
    const history = await call(reader.socket, 'roomRecentHistory', room)
    console.log(`${to} has a conversation with ${user} (${room}), newest first:`)
    for (const m of history) console.log(`  #${m.id} ${m.author}: ${m.textMessage}`)
  }
  reader.socket.close()
}

main().catch((error) => {
  console.error(error.message)
  process.exit(1)
})

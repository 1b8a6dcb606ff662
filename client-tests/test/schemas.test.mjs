// Message formats without Rust (interface.md 7, last paragraph):
// --room-message-schema and --direct-message-schema give a JSON Schema
// (draft 2020-12) a message must satisfy instead of {textMessage: string};
// id, author and timestamp stay forbidden; a message that fails gets
// badArgument at its position. Binary values (socket.io attachments) are
// seen by the schema in their Buffer form {type: "Buffer", data: [bytes]},
// so `maxItems` on `data` bounds an attachment's size. With real
// socket.io-client 4.x and 2.x, sending Buffers and ArrayBuffers.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startServer, expectExit, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

const P = 'ChatServiceError: '
const badArg = (pos, value) => P + `Bad argument at position ${pos}, value ${JSON.stringify(value)}`

/** An attachment of the Buffer form, bounded to `max` bytes. */
const binary = (max) => ({
  type: 'object',
  properties: { type: { const: 'Buffer' }, data: { type: 'array', maxItems: max } },
  required: ['type', 'data'],
  additionalProperties: false
})

// Room messages: a smile, or a file of at most 1024 bytes. The smile
// allows other fields, so that refusing `author` & co. is the server's
// rule, not the schema's.
const ROOM_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  oneOf: [
    {
      type: 'object',
      properties: { type: { const: 'smile' }, smileId: { type: 'integer', minimum: 0 } },
      required: ['type', 'smileId']
    },
    {
      type: 'object',
      properties: { type: { const: 'file' }, name: { type: 'string' }, data: { $ref: '#/$defs/file' } },
      required: ['type', 'name', 'data'],
      additionalProperties: false
    }
  ],
  $defs: { file: binary(1024) }
}

// Direct messages: only files, of at most 64 bytes, plus any other field.
const DIRECT_SCHEMA = {
  type: 'object',
  properties: { type: { const: 'file' }, data: binary(64) },
  required: ['type', 'data']
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-schemas-'))
function file (name, content) {
  const p = path.join(dir, name)
  fs.writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content))
  return p
}
after(() => fs.rmSync(dir, { recursive: true, force: true }))
const roomSchema = file('room.json', ROOM_SCHEMA)
const directSchema = file('direct.json', DIRECT_SCHEMA)

/** The byte length of a received binary value (Buffer or ArrayBuffer). */
function bytesOf (value) {
  assert.ok(value instanceof Uint8Array || value instanceof ArrayBuffer, `not binary: ${JSON.stringify(value)}`)
  return Buffer.from(value instanceof ArrayBuffer ? new Uint8Array(value) : value)
}

describe('message schemas (--room-message-schema, --direct-message-schema)', { skip: OURS_ONLY }, () => {
  let srv
  const t = clientSet()
  before(async () => {
    srv = await startServer([
      '--room-message-schema', roomSchema,
      '--direct-message-schema', directSchema,
      '--enable-rooms-management', '--enable-direct-messages'
    ])
  })
  after(async () => {
    t.closeAll()
    if (srv) await srv.stop()
  })
  afterEach(() => t.closeAll())

  /** A room with a sender and a receiver, both joined. */
  async function room (version) {
    const name = uniq('room')
    const sender = await t.login(srv.url, uniq('s'), { version })
    const receiver = await t.login(srv.url, uniq('r'), { version })
    await sender.ok('roomCreate', name, false)
    await sender.ok('roomJoin', name)
    await receiver.ok('roomJoin', name)
    return { name, sender, receiver }
  }

  for (const version of [4, 2]) {
    describe(`socket.io-client ${version}.x`, () => {
      it('roomMessage: a smile is accepted and delivered; {textMessage} and a wrong smile get badArgument at position 1', async () => {
        const { name, sender, receiver } = await room(version)
        const id = await sender.ok('roomMessage', name, { type: 'smile', smileId: 2 })
        assert.equal(typeof id, 'number')
        const [r, msg] = await receiver.next('roomMessage')
        assert.equal(r, name)
        assert.deepEqual(msg, { type: 'smile', smileId: 2, author: sender.userName, timestamp: msg.timestamp, id })
        for (const refused of [{ textMessage: 'x' }, { type: 'smile', smileId: 'two' }, { type: 'smile' }]) {
          assert.deepEqual(await sender.call('roomMessage', name, refused), [badArg(1, refused), null])
        }
        await receiver.noEvent('roomMessage', 50)
      })

      it('roomMessage: id, author and timestamp stay forbidden though the schema allows other fields', async () => {
        const { name, sender } = await room(version)
        for (const field of ['id', 'author', 'timestamp']) {
          const forged = { type: 'smile', smileId: 1, [field]: 7 }
          assert.deepEqual(await sender.call('roomMessage', name, forged), [badArg(1, forged), null])
        }
        // and without them the same message passes
        assert.equal(typeof await sender.ok('roomMessage', name, { type: 'smile', smileId: 1, extra: true }), 'number')
      })

      it('roomMessage: a file of 1024 bytes (Buffer, ArrayBuffer) is accepted and comes back binary, in the notification and the history; 1025 bytes get badArgument', async () => {
        const { name, sender, receiver } = await room(version)
        const small = Buffer.alloc(1024, 7)
        const ids = []
        for (const data of [small, new Uint8Array(small).buffer]) {
          ids.push(await sender.ok('roomMessage', name, { type: 'file', name: 'a.bin', data }))
          const [, msg] = await receiver.next('roomMessage')
          assert.equal(msg.id, ids.at(-1))
          assert.deepEqual(bytesOf(msg.data), small)
        }
        const history = await receiver.ok('roomRecentHistory', name)
        assert.deepEqual(history.map(m => m.id), [...ids].reverse())
        for (const m of history) assert.deepEqual(bytesOf(m.data), small)

        for (const data of [Buffer.alloc(1025, 7), new ArrayBuffer(1025)]) {
          const [error, result] = await sender.call('roomMessage', name, { type: 'file', name: 'big.bin', data })
          assert.equal(result, null)
          assert.ok(error.startsWith(P + 'Bad argument at position 1, value {"type":"file","name":"big.bin","data":{"type":"Buffer","data":['), error.slice(0, 200))
        }
        // a binary value where the schema wants none
        const [error] = await sender.call('roomMessage', name, { type: 'smile', smileId: Buffer.from([1]) })
        assert.ok(error.startsWith(P + 'Bad argument at position 1'), error)
        await receiver.noEvent('roomMessage', 50)
      })

      it('directMessage follows its own schema: a file of 64 bytes passes, 65 bytes, {textMessage}, a smile and forbidden fields get badArgument at position 1', async () => {
        const from = await t.login(srv.url, uniq('from'), { version })
        const to = await t.login(srv.url, uniq('to'), { version })
        const data = Buffer.alloc(64, 3)
        const sent = await from.ok('directMessage', to.userName, { type: 'file', data })
        assert.deepEqual(bytesOf(sent.data), data)
        const [msg] = await to.next('directMessage')
        assert.equal(msg.author, from.userName)
        assert.deepEqual(bytesOf(msg.data), data)

        const [error] = await from.call('directMessage', to.userName, { type: 'file', data: Buffer.alloc(65) })
        assert.ok(error.startsWith(P + 'Bad argument at position 1, value {"type":"file","data":{"type":"Buffer"'), error)
        for (const refused of [{ textMessage: 'x' }, { type: 'smile', smileId: 2 }, { type: 'file', data: new ArrayBuffer(1), author: 'x' }]) {
          const [e, r] = await from.call('directMessage', to.userName, refused)
          assert.equal(r, null)
          assert.ok(e.startsWith(P + 'Bad argument at position 1, value '), `${JSON.stringify(refused)}: ${e}`)
        }
        await to.noEvent('directMessage', 50)
      })
    })
  }
})

describe('a bad schema file exits 2 with one line naming its flag', { skip: OURS_ONLY }, () => {
  const notJson = file('not-json.json', '{type: object}')
  const notSchema = file('not-schema.json', { type: 'no such type' })
  const cases = [
    ['--room-message-schema', path.join(dir, 'missing.json')],
    ['--room-message-schema', notJson],
    ['--direct-message-schema', notSchema],
    ['--direct-message-schema', dir] // a directory: unreadable as a file
  ]
  for (const [flag, p] of cases) {
    it(`${flag} ${path.basename(p)}`, async () => {
      const r = await expectExit([flag, p])
      assert.equal(r.listened, false)
      assert.equal(r.code, 2, r.stderr)
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, r.stderr)
      assert.ok(lines[0].includes(`invalid value for ${flag}: ${p}: `), lines[0])
    })
  }

  it('the environment names the same file', async () => {
    const r = await expectExit([], { env: { CHAT_SERVICE_ROOM_MESSAGE_SCHEMA: notSchema } })
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr.trim(), /^chat-service: invalid value for --room-message-schema: .*: not a valid JSON Schema/)
  })
})

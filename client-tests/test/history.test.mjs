// Room history (protocol.md 8, interface.md 5).
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

const ids = msgs => msgs.map(m => m.id)

/** Creates a room, joins it and posts n messages "m1".."mn". */
async function roomWith (t, url, n) {
  const a = await t.login(url, uniq('hist'))
  const room = uniq('room')
  await a.ok('roomCreate', room, false)
  await a.ok('roomJoin', room)
  for (let i = 1; i <= n; i++) {
    assert.equal(await a.ok('roomMessage', room, { textMessage: `m${i}` }), i)
  }
  return { a, room }
}

describe('history with defaults', () => {
  const srv = useServer(before, after, ['--enable-rooms-management'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('roomHistoryInfo before and after messages', async () => {
    const { a, room } = await roomWith(t, srv.url, 0)
    const info0 = await a.ok('roomHistoryInfo', room)
    assert.deepEqual(info0, { historySize: 0, historyMaxSize: 10000, historyMaxGetMessages: 100, lastMessageId: 0 })
    assert.deepEqual(Object.keys(info0), ['historySize', 'historyMaxSize', 'historyMaxGetMessages', 'lastMessageId'])
    for (let i = 1; i <= 3; i++) await a.ok('roomMessage', room, { textMessage: `m${i}` })
    assert.deepEqual(await a.ok('roomHistoryInfo', room),
      { historySize: 3, historyMaxSize: 10000, historyMaxGetMessages: 100, lastMessageId: 3 })
  })

  it('roomRecentHistory: newest first, stored messages equal the broadcast ones', async () => {
    const { a, room } = await roomWith(t, srv.url, 3)
    const broadcast = []
    for (let i = 0; i < 3; i++) broadcast.push((await a.next('roomMessage'))[1])
    const recent = await a.ok('roomRecentHistory', room)
    assert.deepEqual(ids(recent), [3, 2, 1])
    assert.deepEqual(recent, broadcast.slice().reverse())
    for (const m of recent) {
      assert.deepEqual(Object.keys(m), ['textMessage', 'author', 'timestamp', 'id'])
      assert.equal(m.author, a.userName)
      assert.equal(m.textMessage, `m${m.id}`)
    }
  })

  it('concurrent senders: every member receives every id once and in id order, as the history holds them', async () => {
    const { a, room } = await roomWith(t, srv.url, 0)
    const b = await t.login(srv.url, uniq('hist'))
    const c = await t.login(srv.url, uniq('hist'))
    await b.ok('roomJoin', room)
    await c.ok('roomJoin', room)
    const N = 300
    const received = [a, b, c].map(member => {
      const got = []
      const done = new Promise(resolve => member.socket.on('roomMessage', (r, m) => {
        if (r === room && got.push(m.id) === N) resolve()
      }))
      return { got, done }
    })
    const sends = []
    for (let i = 0; i < N / 3; i++) {
      for (const sender of [a, b, c]) sends.push(sender.call('roomMessage', room, { textMessage: `${i}` }))
    }
    const acks = await Promise.all(sends)
    assert.deepEqual(acks.filter(([error]) => error !== null), [])
    const expected = Array.from({ length: N }, (_, i) => i + 1)
    assert.deepEqual(acks.map(([, id]) => id).sort((x, y) => x - y), expected)
    await Promise.all(received.map(r => r.done))
    for (const r of received) assert.deepEqual(r.got, expected)
  })

  it('roomHistoryGet windows (protocol.md 8 examples, ids 1..3 stored)', async () => {
    const { a, room } = await roomWith(t, srv.url, 3)
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 0, 10)), [3, 2, 1])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 1, 10)), [3, 2])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 2, 10)), [3])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 3, 10)), [])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 0, 1)), [1])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 0, 2)), [2, 1])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 1, 1)), [2])
    // id beyond lastMessageId is clamped to it: nothing newer
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 100, 10)), [])
  })

  it('sync pattern: page forward from lastMessageId', async () => {
    const { a, room } = await roomWith(t, srv.url, 5)
    let last = 0
    const got = []
    for (;;) {
      const page = await a.ok('roomHistoryGet', room, last, 2)
      if (page.length === 0) break
      got.push(...ids(page).reverse())
      last = Math.max(...ids(page))
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5])
    assert.equal((await a.ok('roomHistoryInfo', room)).lastMessageId, 5)
  })

  it('roomHistoryGet argument checks: id num>=0, limit num>=1', async () => {
    const { a, room } = await roomWith(t, srv.url, 1)
    assert.equal(await a.err('roomHistoryGet', room, -1, 10), 'ChatServiceError: Bad argument at position 1, value -1')
    assert.equal(await a.err('roomHistoryGet', room, '1', 10), 'ChatServiceError: Bad argument at position 1, value "1"')
    assert.equal(await a.err('roomHistoryGet', room, 0, 0), 'ChatServiceError: Bad argument at position 2, value 0')
    assert.equal(await a.err('roomHistoryGet', room, 0, null), 'ChatServiceError: Bad argument at position 2, value null')
    assert.equal(await a.err('roomHistoryGet', room, 0), 'ChatServiceError: Expected 3 arguments, got 2')
  })
})

describe('history with --history-max-get-messages 2', () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--history-max-get-messages', '2'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('caps roomHistoryGet limits and roomRecentHistory', async () => {
    const { a, room } = await roomWith(t, srv.url, 3)
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 0, 10)), [2, 1])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 1, 10)), [3, 2])
    assert.deepEqual(ids(await a.ok('roomRecentHistory', room)), [3, 2])
    assert.deepEqual(await a.ok('roomHistoryInfo', room),
      { historySize: 3, historyMaxSize: 10000, historyMaxGetMessages: 2, lastMessageId: 3 })
  })
})

describe('history with --history-max-get-messages 0', () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--history-max-get-messages', '0'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('returns no messages', async () => {
    const { a, room } = await roomWith(t, srv.url, 2)
    assert.deepEqual(await a.ok('roomRecentHistory', room), [])
    assert.deepEqual(await a.ok('roomHistoryGet', room, 0, 10), [])
    assert.deepEqual(await a.ok('roomHistoryInfo', room),
      { historySize: 2, historyMaxSize: 10000, historyMaxGetMessages: 0, lastMessageId: 2 })
  })
})

describe('history with --history-max-size 2', () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--history-max-size', '2'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('keeps the newest 2; windows do not move to the oldest stored message', async () => {
    const { a, room } = await roomWith(t, srv.url, 3)
    assert.deepEqual(ids(await a.ok('roomRecentHistory', room)), [3, 2])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 0, 10)), [3, 2])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 0, 1)), [])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 0, 2)), [2])
    assert.deepEqual(ids(await a.ok('roomHistoryGet', room, 1, 1)), [2])
    assert.deepEqual(await a.ok('roomHistoryInfo', room),
      { historySize: 2, historyMaxSize: 2, historyMaxGetMessages: 100, lastMessageId: 3 })
  })
})

describe('history with --history-max-size 0', () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--history-max-size', '0'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('stores nothing, ids still count up from 1, messages are still broadcast', async () => {
    const { a, room } = await roomWith(t, srv.url, 2)
    const [, m1] = await a.next('roomMessage')
    assert.equal(m1.id, 1)
    assert.deepEqual(await a.ok('roomRecentHistory', room), [])
    assert.deepEqual(await a.ok('roomHistoryGet', room, 0, 10), [])
    assert.deepEqual(await a.ok('roomHistoryInfo', room),
      { historySize: 0, historyMaxSize: 0, historyMaxGetMessages: 100, lastMessageId: 2 })
    assert.equal(await a.ok('roomMessage', room, { textMessage: 'm3' }), 3)
  })
})

// Errors: every code a client can get, rendering (protocol.md 2.1-2.4,
// 3.1, 3.2), raw error objects, unknown commands, extra arguments.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

const P = 'ChatServiceError: '

describe('error strings', () => {
  const srv = useServer(before, after,
    ['--enable-rooms-management', '--enable-direct-messages', '--enable-userlist-updates', '--room-list-size-limit', '2'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('wrongArgumentsCount: "Expected N arguments, got M"', async () => {
    const a = await t.login(srv.url, uniq('u'))
    assert.deepEqual(await a.call('roomCreate'), [P + 'Expected 2 arguments, got 0', null])
    assert.deepEqual(await a.call('roomCreate', 'r'), [P + 'Expected 2 arguments, got 1', null])
    assert.deepEqual(await a.call('roomJoin'), [P + 'Expected 1 arguments, got 0', null])
    assert.deepEqual(await a.call('roomAddToList', 'r', 'whitelist'), [P + 'Expected 3 arguments, got 2', null])
    assert.deepEqual(await a.call('directMessage', 'x'), [P + 'Expected 2 arguments, got 1', null])
  })

  it('badArgument: position and JSON value exactly as 2.3', async () => {
    const a = await t.login(srv.url, uniq('u'))
    const cases = [
      [['roomJoin', null], 'Bad argument at position 0, value null'],
      [['roomCreate', 'r', 'x'], 'Bad argument at position 1, value "x"'],
      [['roomAddToList', 'r', 'whitelist', [1]], 'Bad argument at position 2, value [1]'],
      [['roomAddToList', 'r', 'whitelist', 'notarray'], 'Bad argument at position 2, value "notarray"'],
      [['roomAddToList', 'r', 'whitelist', ['a', null]], 'Bad argument at position 2, value ["a",null]'],
      [['roomMessage', 'r', { textMessage: 'x', other: 1 }], 'Bad argument at position 1, value {"textMessage":"x","other":1}'],
      [['roomMessage', 'r', { other: 1, textMessage: 'x' }], 'Bad argument at position 1, value {"other":1,"textMessage":"x"}'],
      [['roomMessage', 'r', {}], 'Bad argument at position 1, value {}'],
      [['roomMessage', 'r', [{ textMessage: 'x' }]], 'Bad argument at position 1, value [{"textMessage":"x"}]'],
      [['roomMessage', 'r', { textMessage: null }], 'Bad argument at position 1, value {"textMessage":null}'],
      [['roomJoin', true], 'Bad argument at position 0, value true'],
      [['roomJoin', 12], 'Bad argument at position 0, value 12'],
      [['roomJoin', 1.5], 'Bad argument at position 0, value 1.5'],
      [['roomJoin', 1e21], 'Bad argument at position 0, value 1e+21'],
      [['roomJoin', -0.000001], 'Bad argument at position 0, value -0.000001'],
      [['roomJoin', 1e-7], 'Bad argument at position 0, value 1e-7'],
      [['roomJoin', { b: 1, a: [true, false, null] }], 'Bad argument at position 0, value {"b":1,"a":[true,false,null]}'],
      [['roomCreate', 'r', 'quote" backslash\\ nl\n tab\t cr\r bs\b ff\f ctl\u0001 del\u007f é ✓'],
        'Bad argument at position 1, value "quote\\" backslash\\\\ nl\\n tab\\t cr\\r bs\\b ff\\f ctl\\u0001 del\u007f é ✓"'],
      // first failing position wins
      [['roomAddToList', 1, 2, 3], 'Bad argument at position 0, value 1'],
      [['roomHistoryGet', 'r', -1, 0], 'Bad argument at position 1, value -1'],
      [['roomHistoryGet', 'r', 0.5, 0.5], 'Bad argument at position 2, value 0.5'],
      [['directSetWhitelistMode', 'true'], 'Bad argument at position 0, value "true"'],
      [['directSetWhitelistMode', 0], 'Bad argument at position 0, value 0']
    ]
    for (const [[cmd, ...args], expected] of cases) {
      assert.deepEqual(await a.call(cmd, ...args), [P + expected, null], `${cmd} ${JSON.stringify(args)}`)
    }
  })

  it('validation comes before every other check', async () => {
    const a = await t.login(srv.url, uniq('u'))
    // unknown room, but the argument is checked first
    assert.equal(await a.err('roomMessage', uniq('nor'), { textMessage: 1 }), P + 'Bad argument at position 1, value {"textMessage":1}')
    assert.equal(await a.err('roomHistoryGet', uniq('nor'), 0), P + 'Expected 3 arguments, got 2')
  })

  it('every error code a client can get', async () => {
    const a = await t.login(srv.url, uniq('u'))
    const b = await t.login(srv.url, uniq('b'))
    const room = uniq('room')
    const nor = uniq('nor')
    await a.ok('roomCreate', room, false)
    // noRoom
    assert.deepEqual(await a.call('roomJoin', nor), [P + `No such room ${nor}`, null])
    // roomExists
    assert.deepEqual(await a.call('roomCreate', room, false), [P + `Room ${room} already exists`, null])
    // invalidName
    assert.deepEqual(await a.call('roomCreate', 'x:y', false), [P + 'String x:y contains invalid characters', null])
    // notJoined
    assert.deepEqual(await b.call('roomRecentHistory', room), [P + `Not joined to room ${room}`, null])
    // notAllowed
    assert.deepEqual(await b.call('roomDelete', room), [P + 'Action is not allowed', null])
    // noList
    assert.deepEqual(await a.call('roomGetAccessList', room, 'x'), [P + 'No such list x', null])
    // listLimitExceeded
    assert.deepEqual(await a.call('roomAddToList', room, 'adminlist', ['1', '2', '3']), [P + 'Exceeded adminlist size limit', null])
    // noUser / noUserOnline
    const ghost = uniq('ghost')
    assert.deepEqual(await a.call('directMessage', ghost, { textMessage: 'x' }), [P + `No such user ${ghost}`, null])
    const offName = uniq('off')
    const off = await t.login(srv.url, offName)
    await off.ok('roomJoin', room)
    await a.ok('roomJoin', room)
    off.close()
    // the server has finished the disconnect once the user left the room
    await a.next('roomUserLeft', { filter: (r, u) => u === offName })
    assert.deepEqual(await a.call('directMessage', offName, { textMessage: 'x' }), [P + `No such user online ${offName}`, null])
  })

  it('noLogin is sent as loginRejected', async () => {
    const c = t.connect(srv.url, null)
    assert.equal(await c.loginRejected(), P + 'No login provided')
  })

  it('unknown command: no ack at all, connection keeps working', async () => {
    const a = await t.login(srv.url, uniq('u'))
    await a.noAck(300, 'noSuchCommand', 'x')
    await a.noAck(100, 'roomjoin', 'x') // names are case sensitive
    await a.noAck(100, 'loginConfirmed')
    assert.deepEqual(await a.call('listOwnSockets'), [null, { [a.id]: [] }])
  })

  it('extra arguments are ignored', async () => {
    const a = await t.login(srv.url, uniq('u'))
    const room = uniq('room')
    assert.deepEqual(await a.call('roomCreate', room, false, 'extra', { x: 1 }), [null, null])
    assert.deepEqual(await a.call('roomJoin', room, 'extra'), [null, 1])
    assert.deepEqual(await a.call('roomMessage', room, { textMessage: 'm' }, 'x', 2), [null, 1])
    assert.deepEqual(await a.call('listOwnSockets', 'x'), [null, { [a.id]: [room] }])
    assert.deepEqual(await a.call('directGetWhitelistMode', 1, 2, 3), [null, false])
    // badly typed extra args are ignored too
    assert.deepEqual(await a.call('roomLeave', room, null, 5), [null, 0])
  })
})

describe('raw error objects (--use-raw-error-objects)', () => {
  const srv = useServer(before, after,
    ['--use-raw-error-objects', '--enable-rooms-management', '--enable-direct-messages', '--room-list-size-limit', '2'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  const E = (code, args) => ({ name: 'ChatServiceError', code, args })

  it('errors are {name, code, args} objects', async () => {
    const a = await t.login(srv.url, uniq('u'))
    const b = await t.login(srv.url, uniq('b'))
    const room = uniq('room')
    await a.ok('roomCreate', room, false)
    const cases = [
      [['roomCreate', 'r', 'x'], E('badArgument', [1, 'x'])],
      [['roomJoin', null], E('badArgument', [0, null])],
      [['roomMessage', room, { textMessage: 'x', other: 1 }], E('badArgument', [1, { textMessage: 'x', other: 1 }])],
      [['roomCreate'], E('wrongArgumentsCount', [2, 0])],
      [['roomJoin', 'nor:x'], E('noRoom', ['nor:x'])],
      [['roomCreate', room, false], E('roomExists', [room])],
      [['roomCreate', 'a}b', false], E('invalidName', ['a}b'])],
      [['roomGetAccessList', room, 'x'], E('noList', ['x'])],
      [['roomAddToList', room, 'whitelist', ['1', '2', '3']], E('listLimitExceeded', ['whitelist'])],
      [['directMessage', a.userName, { textMessage: 'x' }], E('notAllowed', [])],
      [['directMessage', 'ghost:x', { textMessage: 'x' }], E('noUser', ['ghost:x'])]
    ]
    for (const [[cmd, ...args], expected] of cases) {
      const ack = await a.call(cmd, ...args)
      assert.deepEqual(ack, [expected, null], `${cmd} ${JSON.stringify(args)}`)
      assert.deepEqual(Object.keys(ack[0]), ['name', 'code', 'args'])
    }
    assert.deepEqual(await b.call('roomGetOwner', room), [E('notJoined', [room]), null])
  })
})

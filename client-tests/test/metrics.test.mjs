// GET /metrics (interface.md 3): the Prometheus counters and gauges move by
// exactly what the traffic did. Only our binary has it.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { useServer, OURS_ONLY } from '../lib/server.mjs'
import { clientSet, uniq } from '../lib/client.mjs'

/** Scrapes /metrics into a Map `name{k="v",…}` (labels sorted) -> number. */
async function scrape (url) {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') || '', /^text\/plain/)
  const samples = new Map()
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    assert.ok(m, `a sample line: ${line}`)
    const labels = m[2] ? [...m[2].matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort() : []
    samples.set(labels.length ? `${m[1]}{${labels.join(',')}}` : m[1], Number(m[3]))
  }
  return samples
}

/** `after - before` for every key (missing counts as 0), zeros left out. */
function deltas (before, after) {
  const out = {}
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    if (key.includes('_bucket{') || key.endsWith('_sum') || key.includes('_sum{')) continue
    const d = (after.get(key) ?? 0) - (before.get(key) ?? 0)
    if (d !== 0) out[key] = d
  }
  return out
}

const cmd = (command, outcome = 'ok') => `chat_service_commands_total{command="${command}",outcome="${outcome}"}`
const count = (command) => `chat_service_command_duration_seconds_count{command="${command}"}`

describe('GET /metrics', { skip: OURS_ONLY }, () => {
  const srv = useServer(before, after, ['--enable-rooms-management', '--enable-direct-messages'])
  const t = clientSet()
  afterEach(() => t.closeAll())

  it('exports every metric from the start, in the Prometheus text format', async () => {
    const res = await fetch(`${srv.url}/metrics`, { signal: AbortSignal.timeout(5000) })
    const text = await res.text()
    for (const [name, type] of [
      ['chat_service_connections', 'gauge'],
      ['chat_service_users_online', 'gauge'],
      ['chat_service_joined_sockets', 'gauge'],
      ['chat_service_room_messages_total', 'counter'],
      ['chat_service_direct_messages_total', 'counter'],
      ['chat_service_rooms_created_total', 'counter'],
      ['chat_service_rooms_deleted_total', 'counter'],
      ['chat_service_redis_errors_total', 'counter'],
      ['chat_service_bus_timeouts_total', 'counter']
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'))
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'))
      assert.match(text, new RegExp(`^${name} \\d`, 'm'))
    }
    const samples = await scrape(srv.url)
    assert.equal(samples.get('chat_service_redis_errors_total'), 0)
    assert.equal(samples.get('chat_service_bus_timeouts_total'), 0)
  })

  it('counts logins, commands by outcome, latencies, messages and presence exactly', async () => {
    const m0 = await scrape(srv.url)
    const room = uniq('room')
    const [a, b, c] = [uniq('a'), uniq('b'), uniq('c')]
    const ca = await t.login(srv.url, a)
    const ca2 = await t.login(srv.url, a) // a second socket of the same user
    const cb = await t.login(srv.url, b)
    const cc = await t.login(srv.url, c)
    const nobody = t.connect(srv.url, null)
    assert.equal(await nobody.loginRejected(), 'ChatServiceError: No login provided')

    assert.equal(await ca.ok('roomCreate', room, false), null)
    assert.equal(await ca.ok('roomJoin', room), 1)
    assert.equal(await ca2.ok('roomJoin', room), 2)
    assert.equal(await cb.ok('roomJoin', room), 1)
    assert.equal(await ca.ok('roomJoin', room), 2) // already joined: no new membership
    for (let i = 1; i <= 4; i++) assert.equal(await ca.ok('roomMessage', room, { textMessage: `m${i}` }), i)
    assert.equal(await cb.ok('roomMessage', room, { textMessage: 'm5' }), 5)
    assert.match(await cc.err('roomMessage', room, { textMessage: 'no' }), /Not joined/)
    assert.match(await cc.err('roomJoin', uniq('nor')), /No such room/)
    assert.match(await cc.err('roomMessage', room), /Expected 2 arguments/)
    assert.equal((await ca.ok('directMessage', c, { textMessage: 'dm' })).textMessage, 'dm')
    assert.equal(await ca2.ok('roomLeave', room), 1)

    const m1 = await scrape(srv.url)
    assert.deepEqual(deltas(m0, m1), {
      chat_service_connections: 4,
      chat_service_users_online: 3,
      chat_service_joined_sockets: 2, // 3 joins, 1 leave
      'chat_service_logins_total{outcome="ok"}': 4,
      'chat_service_logins_total{outcome="noLogin"}': 1,
      [cmd('roomCreate')]: 1,
      [count('roomCreate')]: 1,
      [cmd('roomJoin')]: 4,
      [cmd('roomJoin', 'noRoom')]: 1,
      [count('roomJoin')]: 5,
      [cmd('roomMessage')]: 5,
      [cmd('roomMessage', 'notJoined')]: 1,
      [cmd('roomMessage', 'wrongArgumentsCount')]: 1,
      [count('roomMessage')]: 7,
      [cmd('directMessage')]: 1,
      [count('directMessage')]: 1,
      [cmd('roomLeave')]: 1,
      [count('roomLeave')]: 1,
      chat_service_room_messages_total: 5,
      chat_service_direct_messages_total: 1,
      chat_service_rooms_created_total: 1
    })
    const buckets = [...m1.keys()].filter(k => k.startsWith('chat_service_command_duration_seconds_bucket{') && k.includes('command="roomMessage"'))
    assert.ok(buckets.some(k => k.includes('le="+Inf"')), 'a histogram with buckets')
    assert.equal(m1.get(`chat_service_command_duration_seconds_bucket{command="roomMessage",le="+Inf"}`), m1.get(count('roomMessage')))

    // Disconnects: b (joined) and one socket of a (joined). Cleanup runs on
    // the server after the socket is gone: wait for the scrape to show it.
    cb.close()
    ca.close()
    let m2
    for (const deadline = Date.now() + 5000; ;) {
      m2 = await scrape(srv.url)
      if (m2.get('chat_service_connections') === m1.get('chat_service_connections') - 2 &&
        m2.get('chat_service_joined_sockets') === m1.get('chat_service_joined_sockets') - 2) break
      assert.ok(Date.now() < deadline, `disconnects not counted: ${JSON.stringify(deltas(m1, m2))}`)
      await new Promise(resolve => setTimeout(resolve, 20)) // poll interval, not a wait for time to pass
    }
    assert.deepEqual(deltas(m1, m2), {
      chat_service_connections: -2,
      chat_service_users_online: -1, // a still has a socket
      chat_service_joined_sockets: -2
    })

    // Room deletion ends the remaining memberships (none here) and counts.
    assert.equal(await ca2.ok('roomDelete', room), null)
    const m3 = await scrape(srv.url)
    assert.deepEqual(deltas(m2, m3), {
      [cmd('roomDelete')]: 1,
      [count('roomDelete')]: 1,
      chat_service_rooms_deleted_total: 1
    })
  })
})

#!/usr/bin/env node
// Turns the runs of scripts/bench.sh (one JSON line per run) into a
// Markdown table, servers side by side, and writes every raw run with the
// medians to <out>.json (and the table to <out>.md).
//
//   node bench/report.mjs --runs bench/results/<stamp>/runs.jsonl \
//        --out bench/results/<stamp> [--meta '{"reps":3,...}']
//
// No dependencies: Node 20's standard library only.

import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'

const SERVERS = ['ours-memory', 'ours-sqlite', 'ours-redis', 'ours-hook', 'base-memory', 'base-sqlite', 'base-redis', 'original-memory', 'original-redis', 'ceiling']
const RATIOS = [
  ['ours-sqlite', 'ours-memory'],
  ['ours-hook', 'ours-memory'],
  ['ours-memory', 'base-memory'],
  ['ours-sqlite', 'base-sqlite'],
  ['ours-redis', 'base-redis'],
  ['ours-memory', 'original-memory'],
  ['ours-redis', 'original-redis'],
  ['ours-memory', 'ceiling'],
  ['ours-redis', 'ceiling']
]
const SCENARIOS = [
  'fanout-small', 'fanout-small-w32', 'fanout-large', 'fanout-large-w8',
  'latency', 'connect', 'history'
]

// The figures of each kind of scenario: label, how to read it from a
// loadgen report, its unit and whether higher is better.
const rate = (label, get) => ({ label, get, unit: '/s', higher: true, digits: 0 })
const ms = (label, get) => ({ label, get, unit: 'ms', higher: false, digits: 2 })
const count = (label, get) => ({ label, get, unit: '', higher: false, digits: 0 })
const pct = (label, get) => ({ label, get, unit: '%', higher: false, digits: 0 })
const FANOUT = [
  rate('delivered msgs/s', r => r.delivered_per_s),
  rate('acked msgs/s', r => r.acked_per_s),
  ms('e2e p50', r => r.e2e_ms?.p50),
  ms('e2e p99', r => r.e2e_ms?.p99),
  ms('ack p99', r => r.ack_ms?.p99),
  count('errors', r => r.errors),
  count('out of order', r => r.out_of_order),
  pct('server CPU', r => r.server_cpu_pct),
  pct('loadgen CPU', r => r.loadgen_cpu_pct)
]
const FIGURES = {
  fanout: FANOUT,
  connect: [
    rate('connections/s', r => r.connections_per_s),
    { label: 'RSS/conn', get: r => r.rss_per_conn_kb, unit: 'KB', higher: false, digits: 1 },
    count('errors', r => r.errors),
    pct('server CPU', r => r.server_cpu_pct),
    pct('loadgen CPU', r => r.loadgen_cpu_pct)
  ],
  history: [
    rate('history req/s', r => r.requests_per_s),
    ms('request p50', r => r.ack_ms?.p50),
    ms('request p99', r => r.ack_ms?.p99),
    count('errors', r => r.errors),
    pct('server CPU', r => r.server_cpu_pct),
    pct('loadgen CPU', r => r.loadgen_cpu_pct)
  ]
}
const figuresOf = scenario =>
  scenario === 'connect' ? FIGURES.connect : scenario === 'history' ? FIGURES.history : FIGURES.fanout

function median (values) {
  const v = [...values].sort((a, b) => a - b)
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

function format (value, digits) {
  if (value == null || Number.isNaN(value)) return '–'
  const a = Math.abs(value)
  if (Number.isInteger(value) || a >= 100) return Math.round(value).toLocaleString('en-US')
  if (digits === 0 || a >= 10) return value.toFixed(1)
  return value.toFixed(digits)
}

function sh (cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

function machine () {
  let cpu = null
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? null
  } catch {}
  return {
    nproc: Number(sh('nproc', [])) || os.availableParallelism?.() || os.cpus().length,
    cpu,
    kernel: `${os.type()} ${os.release()}`,
    rustc: sh('rustc', ['--version']),
    node: process.version,
    redis: sh('redis-server', ['--version'])?.match(/v=(\S+)/)?.[1] ?? null
  }
}

function main () {
  const { values: args } = parseArgs({
    options: { runs: { type: 'string' }, out: { type: 'string' }, meta: { type: 'string' } }
  })
  if (!args.runs) {
    console.error('usage: node bench/report.mjs --runs RUNS.jsonl [--out PATH] [--meta JSON]')
    process.exit(2)
  }
  const runs = readFileSync(args.runs, 'utf8').split('\n').filter(l => l.trim())
    .map((line, i) => {
      try {
        return JSON.parse(line)
      } catch {
        return { error: `unreadable line ${i + 1}`, line }
      }
    })
    .map(run => {
      // A loadgen that failed may still print {"error": ...}.
      if (!run.error && (run.result == null || run.result.error)) {
        run.error = run.result?.error ?? 'no result'
      }
      return run
    })
  const meta = args.meta ? JSON.parse(args.meta) : {}
  const info = machine()

  // Groups: scenario -> eio -> server -> runs.
  const groups = new Map()
  for (const run of runs) {
    const key = `${run.scenario}\u0000${run.eio}`
    if (!groups.has(key)) groups.set(key, { scenario: run.scenario, eio: run.eio, byServer: {} })
    ;(groups.get(key).byServer[run.server] ??= []).push(run)
  }
  const order = g => [SCENARIOS.indexOf(g.scenario), g.eio]
  const sorted = [...groups.values()].sort((a, b) => {
    const [x, y] = [order(a), order(b)]
    return x[0] - y[0] || x[1] - y[1]
  })
  const servers = SERVERS.filter(s => runs.some(r => r.server === s))
  const ratios = RATIOS.filter(([a, b]) => servers.includes(a) && servers.includes(b))

  const medians = []
  const lines = []
  lines.push('## Machine', '')
  lines.push(`- CPU: ${info.cpu ?? 'unknown'}, nproc ${info.nproc}`)
  lines.push(`- kernel: ${info.kernel}`)
  lines.push(`- ${info.rustc ?? 'rustc: unknown'}; node ${info.node}; redis ${info.redis ?? 'n/a'}`)
  if (Object.keys(meta).length) {
    lines.push(`- runs: ${Object.entries(meta).map(([k, v]) => `${k}=${v}`).join(', ')}`)
  }
  lines.push('')
  lines.push('Cells: median (min–max) over the repetitions. Ratios: of the medians ' +
    '(↑ figure: higher is better, ↓: lower is better).', '')
  const header = ['scenario', 'EIO', 'figure', ...servers, ...ratios.map(([a, b]) => `${a} / ${b}`)]
  lines.push(`| ${header.join(' | ')} |`)
  lines.push(`|${header.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`)

  for (const group of sorted) {
    for (const figure of figuresOf(group.scenario)) {
      const cells = {}
      const row = { scenario: group.scenario, eio: group.eio, figure: figure.label, servers: {} }
      for (const server of servers) {
        const all = group.byServer[server]
        if (!all) {
          cells[server] = server.startsWith('original') && group.eio !== 3 ? 'n/a' : ' '
          continue
        }
        const ok = all.filter(r => !r.error)
        const failed = all.length - ok.length
        const values = ok.map(r => figure.get(r.result)).filter(v => typeof v === 'number')
        if (!values.length) {
          cells[server] = ok.length ? '–' : `fail ×${failed}`
          row.servers[server] = { failed }
          continue
        }
        const m = median(values)
        const lo = Math.min(...values)
        const hi = Math.max(...values)
        row.servers[server] = { median: m, min: lo, max: hi, n: values.length, failed }
        let cell = format(m, figure.digits)
        const [low, high] = [format(lo, figure.digits), format(hi, figure.digits)]
        if (low !== high) cell += ` (${low}–${high})`
        if (failed) cell += `, ${failed} failed`
        cells[server] = cell
      }
      const ratioCells = ratios.map(([a, b]) => {
        const x = row.servers[a]?.median
        const y = row.servers[b]?.median
        if (x == null || y == null || y === 0 || figure.unit === '' || figure.unit === '%') return ''
        const r = x / y
        ;(row.ratios ??= {})[`${a}/${b}`] = r
        return `${r.toFixed(2)}×`
      })
      // A figure no server reported (that loadgen version does not measure it).
      if (!Object.values(row.servers).some(s => s.median != null)) continue
      medians.push(row)
      const arrow = figure.unit === '' ? '' : figure.higher ? ' ↑' : ' ↓'
      const unit = figure.unit && figure.unit !== '/s' ? ` (${figure.unit})` : ''
      lines.push(`| ${[group.scenario, group.eio, `${figure.label}${unit}${arrow}`,
        ...servers.map(s => cells[s]), ...ratioCells].join(' | ')} |`)
    }
  }
  const failures = runs.filter(r => r.error)
  if (failures.length) {
    lines.push('', `Failed runs (${failures.length}):`, '')
    for (const f of failures) {
      lines.push(`- ${f.scenario} EIO ${f.eio} ${f.server} rep ${f.rep}: ${f.error}`)
    }
  }
  const markdown = lines.join('\n') + '\n'
  process.stdout.write(markdown)
  if (args.out) {
    writeFileSync(`${args.out}.md`, markdown)
    writeFileSync(`${args.out}.json`, JSON.stringify({ machine: info, meta, medians, runs }, null, 2) + '\n')
    console.error(`\nwritten: ${args.out}.json, ${args.out}.md`)
  }
}

main()

// Starts lib/hook-backend.mjs, a real HTTP backend for the hooks over
// HTTP, as a child process, and talks to its control endpoints.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

/**
 * Resolves `{url, hookUrl, rules(list), received(), reset(), stats(),
 * stop()}` once the backend listens.
 */
export function startBackend () {
  const proc = spawn(process.execPath, [path.join(here, 'hook-backend.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hook backend did not start')), 10000)
    let out = ''
    proc.stdout.on('data', chunk => {
      out += chunk
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      const url = m[1]
      const control = async (method, what, body) => {
        const res = await fetch(`${url}/control/${what}`, {
          method,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(5000)
        })
        if (res.status !== 200) throw new Error(`backend ${what}: ${res.status}`)
        return res.json()
      }
      resolve({
        url,
        hookUrl: `${url}/hooks`,
        rules: list => control('PUT', 'rules', list),
        received: () => control('GET', 'received'),
        reset: () => control('POST', 'reset'),
        stats: () => control('GET', 'stats'),
        stop: () => new Promise(resolve => {
          if (proc.exitCode !== null) return resolve()
          proc.once('exit', resolve)
          proc.kill('SIGTERM')
        })
      })
    })
    proc.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`hook backend exited with ${code}`))
    })
  })
}

/** Waits until `received()` holds a call passing `filter`; resolves it. */
export async function waitForCall (backend, filter, timeout = 5000) {
  const deadline = Date.now() + timeout
  for (;;) {
    const call = (await backend.received()).find(filter)
    if (call) return call
    if (Date.now() > deadline) throw new Error('the backend got no such hook call')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

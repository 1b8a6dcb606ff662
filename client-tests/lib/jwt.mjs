// Minimal JWT maker for the tests (HS256 or alg "none"); no library.
import crypto from 'node:crypto'

const b64url = (buf) => Buffer.from(buf).toString('base64url')

/**
 * `makeJwt(payload, secret, {alg = 'HS256', header})`: a compact JWT.
 * alg 'none' gives an unsigned token (empty signature part).
 */
export function makeJwt (payload, secret, { alg = 'HS256', header = {} } = {}) {
  const h = b64url(JSON.stringify({ alg, typ: 'JWT', ...header }))
  const p = b64url(JSON.stringify(payload))
  const input = `${h}.${p}`
  if (alg === 'none') return `${input}.`
  if (alg !== 'HS256') throw new Error(`unsupported alg ${alg}`)
  const sig = crypto.createHmac('sha256', secret).update(input).digest()
  return `${input}.${b64url(sig)}`
}

export const nowSec = () => Math.floor(Date.now() / 1000)

// The web chat at / (web/, embedded in the binary) in a real browser:
// Debian's Chromium (/usr/bin/chromium) driven by playwright-core, two
// browser contexts as two users. Every wait is on a DOM condition with a
// timeout; nothing sleeps. Leaves a screenshot in client-tests/artifacts/.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium); WEBCHAT_STATIC_DIR
// serves the page from that directory (--static-dir) instead of the copy
// embedded in the binary, to try page edits without rebuilding.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { startServer, sqliteFlags, CLIENT_TESTS_DIR } from '../lib/server.mjs'
import { makeJwt, nowSec } from '../lib/jwt.mjs'

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARTIFACTS = path.join(CLIENT_TESTS_DIR, 'artifacts')
const SCREENSHOT = path.join(ARTIFACTS, 'webchat.png')
const TIMEOUT = Number(process.env.TEST_EVENT_TIMEOUT || 10000)
const MAX_GET = 5

const FLAGS = [
  '--enable-rooms-management', '--enable-direct-messages', '--enable-userlist-updates',
  '--history-max-get-messages', String(MAX_GET),
  ...(process.env.WEBCHAT_STATIC_DIR ? ['--static-dir', path.resolve(process.env.WEBCHAT_STATIC_DIR)] : [])
]

// ---- page helpers ---------------------------------------------------

/** Waits until `fn(arg)` is truthy in the page. */
function until (page, fn, arg, what) {
  return page.waitForFunction(fn, arg, { timeout: TIMEOUT, polling: 100 })
    .catch(async (error) => {
      const notices = await page.locator('#notices').textContent().catch(() => '?')
      throw new Error(`${what}: ${error.message.split('\n')[0]}\nnotices: ${notices}`)
    })
}

/** The texts of the messages shown, in order. */
function shownTexts (page) {
  return page.$$eval('#message-list .msg-text', (nodes) => nodes.map((n) => n.textContent))
}

function waitForTexts (page, texts, what = `messages ${JSON.stringify(texts)}`) {
  return until(page, (wanted) => {
    const shown = [...document.querySelectorAll('#message-list .msg-text')].map((n) => n.textContent)
    return wanted.every((t) => shown.includes(t))
  }, texts, what)
}

function waitForNotice (page, text) {
  return until(page, (t) => [...document.querySelectorAll('#notices .notice')].some((n) => n.textContent.includes(t)),
    text, `a notice with ${JSON.stringify(text)}`)
}

async function signIn (page, url, name) {
  await page.goto(`${url}/`)
  await page.fill('#sign-in-name', name)
  await page.click('#sign-in-form button[type=submit]')
  await waitOnline(page)
}

function waitOnline (page) {
  return until(page, () => document.querySelector('#status').dataset.state === 'online', null, 'online status')
}

function waitJoined (page, room) {
  return until(page, (r) => [...document.querySelectorAll('#room-list li.joined')].some((li) => li.dataset.room === r),
    room, `room ${room} joined`)
}

function waitSelected (page, title) {
  return until(page, (t) => document.querySelector('#conversation-title').textContent === t, title, `conversation ${title}`)
}

async function joinRoom (page, room) {
  await page.fill('#room-name', room)
  await page.click('#join-room')
  await waitJoined(page, room)
  await waitSelected(page, `# ${room}`)
}

async function createRoom (page, room) {
  await page.fill('#room-name', room)
  await page.click('#create-room')
  await waitJoined(page, room)
  await waitSelected(page, `# ${room}`)
}

/** Sends a message and waits until it is shown (echoed by the server). */
async function say (page, text) {
  await page.fill('#composer-text', text)
  await page.press('#composer-text', 'Enter')
  await waitForTexts(page, [text])
}

function waitForUsers (page, users) {
  return until(page, (wanted) => {
    const shown = [...document.querySelectorAll('#user-list .user')].map((n) => n.dataset.user).sort()
    return JSON.stringify(shown) === JSON.stringify([...wanted].sort())
  }, users, `userlist ${JSON.stringify(users)}`)
}

async function openDm (page, peer) {
  await page.click(`#dm-list li[data-peer="${peer}"] button`)
  await waitSelected(page, `@ ${peer}`)
}

let seq = 0
function uniq (prefix) {
  seq += 1
  return `${prefix}-${seq}-${process.pid % 10000}`
}

// ---- the tests ------------------------------------------------------

let browser
const pageErrors = []

before(async () => {
  // launch() runs Chromium on a fresh temporary profile (user data dir).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'
    ]
  })
})

after(async () => {
  await browser?.close()
})

async function newPage (context) {
  const page = await context.newPage()
  page.on('pageerror', (error) => pageErrors.push(error.message))
  page.on('dialog', (dialog) => {
    pageErrors.push(`unexpected dialog: ${dialog.message()}`)
    dialog.dismiss().catch(() => {})
  })
  return page
}

function newContext () {
  return browser.newContext({ viewport: { width: 1280, height: 800 } })
}

/** Starts a server for one describe; stopping it must exit 0. */
function useServer (flags) {
  const holder = {}
  before(async () => { holder.server = await startServer(flags) })
  after(async () => {
    if (!holder.server) return
    const code = await holder.server.stop()
    assert.equal(code, 0, holder.server.output())
  })
  return holder
}

describe('web chat in Chromium', () => {
  // The binary's default state, on a file of its own (restarted below).
  const srv = useServer([...FLAGS, ...sqliteFlags()])
  const server = { get url () { return srv.server.url } }

  async function newUser (name) {
    const context = await newContext()
    const page = await newPage(context)
    await signIn(page, server.url, name)
    return { context, page, name }
  }

  let alice
  let bob
  const room = uniq('lobby')

  before(async () => {
    alice = await newUser('alice')
    bob = await newUser('bob')
  })

  it('the page comes from the server with the socket.io client bundle, no CDN', async () => {
    const html = await (await fetch(`${server.url}/`)).text()
    assert.match(html, /src="vendor\/socket\.io\.min\.js"/)
    assert.doesNotMatch(html, /https?:\/\//, 'no external resources')
    assert.equal(await alice.page.evaluate(() => typeof io), 'function')
  })

  it('alice creates a room, bob joins, both see each other\'s messages and the userlist', async () => {
    await createRoom(alice.page, room)
    await joinRoom(bob.page, room)
    await waitForUsers(alice.page, ['alice', 'bob'])
    await waitForUsers(bob.page, ['alice', 'bob'])
    await say(alice.page, 'hello bob')
    await waitForTexts(bob.page, ['hello bob'])
    await say(bob.page, 'hi alice')
    await waitForTexts(alice.page, ['hello bob', 'hi alice'])
    assert.deepEqual(await shownTexts(bob.page), ['hello bob', 'hi alice'])
  })

  it('a message with HTML in it is shown as text', async () => {
    const evil = '<script>alert(1)</script><b>x</b>'
    await say(alice.page, evil)
    await waitForTexts(bob.page, [evil])
    for (const page of [alice.page, bob.page]) {
      const found = await page.evaluate((t) => {
        const node = [...document.querySelectorAll('#message-list .msg-text')].find((n) => n.textContent === t)
        return {
          text: node && node.textContent,
          elements: node ? node.children.length : -1,
          bold: document.querySelectorAll('#messages b').length,
          scripts: document.querySelectorAll('#messages script').length
        }
      }, evil)
      assert.deepEqual(found, { text: evil, elements: 0, bold: 0, scripts: 0 })
    }
  })

  it('a user name with HTML in it is shown as text', async () => {
    const eve = await newUser('<i>eve</i>')
    try {
      await joinRoom(eve.page, room)
      await say(eve.page, 'hi from eve')
      await until(alice.page, () => [...document.querySelectorAll('#message-list .msg')]
        .some((m) => m.querySelector('.msg-author').textContent === '<i>eve</i>' &&
          m.querySelector('.msg-text').textContent === 'hi from eve'), null, 'eve\'s message')
      await waitForUsers(alice.page, ['alice', 'bob', '<i>eve</i>'])
      assert.equal(await alice.page.locator('#messages i, #user-list i, #room-list i').count(), 0)
    } finally {
      await eve.context.close()
    }
    await waitForUsers(alice.page, ['alice', 'bob'])
  })

  it('after a reload bob sees the room\'s history', async () => {
    const before = await shownTexts(bob.page)
    await bob.page.reload()
    await waitOnline(bob.page)
    await waitJoined(bob.page, room)
    await waitSelected(bob.page, `# ${room}`)
    await waitForTexts(bob.page, before)
    assert.deepEqual(await shownTexts(bob.page), before)
    const via = await bob.page.$$eval('#message-list .msg', (nodes) => nodes.map((n) => n.dataset.via))
    assert.ok(via.every((v) => v === 'history'), JSON.stringify(via))
  })

  it('errors are shown in words', async () => {
    const missing = uniq('no-such-room')
    await bob.page.fill('#room-name', missing)
    await bob.page.click('#join-room')
    await waitForNotice(bob.page, `Could not join “${missing}”`)
    await waitForNotice(bob.page, `No such room ${missing}`)
    await bob.page.fill('#room-name', room)
    await bob.page.click('#create-room')
    await waitForNotice(bob.page, `Room ${room} already exists`)
    await bob.page.click(`#room-list li[data-room="${room}"] button`)
    await waitSelected(bob.page, `# ${room}`)
  })

  it('"load older" pages back through the history', async () => {
    const history = uniq('history')
    await createRoom(alice.page, history)
    const texts = Array.from({ length: 12 }, (_, i) => `message ${i + 1}`)
    for (const text of texts) await say(alice.page, text)
    await joinRoom(bob.page, history)
    await waitForTexts(bob.page, texts.slice(-MAX_GET))
    assert.deepEqual(await shownTexts(bob.page), texts.slice(-MAX_GET))
    await bob.page.click('#load-older')
    await waitForTexts(bob.page, texts.slice(-2 * MAX_GET))
    assert.deepEqual(await shownTexts(bob.page), texts.slice(-2 * MAX_GET))
    await bob.page.click('#load-older')
    await waitForTexts(bob.page, texts)
    assert.deepEqual(await shownTexts(bob.page), texts)
    await until(bob.page, () => document.querySelector('#load-older').hidden &&
      !document.querySelector('#no-older').hidden, null, 'the beginning of the history')
  })

  it('a conversation: alice writes to bob, bob and alice\'s other tab are told of it, both sides see it', async () => {
    const aliceTab2 = await newPage(alice.context)
    try {
      await signIn(aliceTab2, server.url, 'alice')
      await alice.page.fill('#dm-user', 'bob')
      await alice.page.press('#dm-user', 'Enter')
      await waitSelected(alice.page, '@ bob')
      await say(alice.page, 'psst, bob')
      await until(bob.page, () => document.querySelector('#dm-list li[data-peer="alice"] .badge')?.textContent === '1',
        null, 'an unread message from alice')
      await openDm(bob.page, 'alice')
      await waitForTexts(bob.page, ['psst, bob'])
      await until(aliceTab2, () => !!document.querySelector('#dm-list li[data-peer="bob"]'), null, 'the conversation in tab 2')
      await openDm(aliceTab2, 'bob')
      await waitForTexts(aliceTab2, ['psst, bob'])
      await say(bob.page, 'what?')
      await waitForTexts(alice.page, ['psst, bob', 'what?'])
      await waitForTexts(aliceTab2, ['psst, bob', 'what?'])
      // Conversations are listed with the people, not with the rooms.
      assert.equal(await alice.page.$$eval('#room-list li[data-room^="dm:"]', (nodes) => nodes.length), 0)
      // Tab 2 shows alice's rooms that only tab 1 is in.
      await until(aliceTab2, (r) => !!document.querySelector(`#room-list li[data-room="${r}"]`), room, 'rooms of tab 1')
    } finally {
      await aliceTab2.close()
    }
  })

  it('a message to a user who is offline is waiting when they sign in', async () => {
    const carol = uniq('carol')
    await alice.page.fill('#dm-user', carol)
    await alice.page.press('#dm-user', 'Enter')
    await waitSelected(alice.page, `@ ${carol}`)
    await say(alice.page, `welcome, ${carol}`)
    const them = await newUser(carol)
    try {
      await until(them.page, () => !!document.querySelector('#dm-list li[data-peer="alice"]'), null, 'the conversation with alice')
      await openDm(them.page, 'alice')
      await waitForTexts(them.page, [`welcome, ${carol}`])
      await say(them.page, 'thanks!')
      await waitForTexts(alice.page, [`welcome, ${carol}`, 'thanks!'])
    } finally {
      await them.context.close()
    }
  })

  it('after a lost connection bob gets the missed messages exactly once', async () => {
    await alice.page.click(`#room-list li[data-room="${room}"] button`)
    await waitSelected(alice.page, `# ${room}`)
    await bob.page.click(`#room-list li[data-room="${room}"] button`)
    await waitSelected(bob.page, `# ${room}`)
    await say(alice.page, 'before the cut')
    await waitForTexts(bob.page, ['before the cut'])

    await bob.context.setOffline(true)
    await until(bob.page, () => document.querySelector('#status').dataset.state !== 'online', null, 'bob offline')
    await waitForUsers(alice.page, ['alice'])
    const missed = ['while you were away 1', 'while you were away 2', 'while you were away 3']
    for (const text of missed) await say(alice.page, text)
    await bob.context.setOffline(false)
    await waitOnline(bob.page)
    await waitForTexts(bob.page, missed)
    await waitForUsers(alice.page, ['alice', 'bob'])
    await say(alice.page, 'welcome back')
    await waitForTexts(bob.page, ['welcome back'])

    const shown = await shownTexts(bob.page)
    for (const text of [...missed, 'before the cut', 'welcome back']) {
      assert.equal(shown.filter((t) => t === text).length, 1, `${text} shown once in ${JSON.stringify(shown)}`)
    }
    assert.deepEqual(shown.slice(-5), ['before the cut', ...missed, 'welcome back'])
    const via = await bob.page.$$eval('#message-list .msg', (nodes) =>
      Object.fromEntries(nodes.map((n) => [n.querySelector('.msg-text').textContent, n.dataset.via])))
    for (const text of missed) assert.equal(via[text], 'resync', `${text} came through roomHistoryGet`)
    assert.equal(via['welcome back'], 'live')
    assert.deepEqual(await shownTexts(alice.page), shown)
  })

  it('leaves a screenshot and no page errors', async () => {
    await mkdir(ARTIFACTS, { recursive: true })
    await say(bob.page, 'see you later')
    await waitForTexts(alice.page, ['see you later'])
    await alice.page.screenshot({ path: SCREENSHOT })
    assert.deepEqual(pageErrors, [])
  })

  it('after a server restart on the same file, the room\'s history is still there', async () => {
    await bob.page.click(`#room-list li[data-room="${room}"] button`)
    await waitSelected(bob.page, `# ${room}`)
    const before = await shownTexts(bob.page)
    assert.equal(await srv.server.stop(), 0, srv.server.output())
    srv.server = await startServer(srv.server.flags)
    // A new port is another origin: the page starts anew, as after a reload.
    await signIn(bob.page, server.url, 'bob')
    await joinRoom(bob.page, room)
    await waitForTexts(bob.page, before.slice(-MAX_GET))
    assert.deepEqual(await shownTexts(bob.page), before.slice(-MAX_GET))
    const via = await bob.page.$$eval('#message-list .msg', (nodes) => nodes.map((n) => n.dataset.via))
    assert.ok(via.every((v) => v === 'history'), JSON.stringify(via))
  })
})

describe('web chat with --auth jwt and raw error objects', () => {
  const SECRET = 'web-chat-test-secret'
  const srv = useServer(['--auth', 'jwt', '--jwt-secret', SECRET, '--use-raw-error-objects'])

  async function signInWithToken (page, token) {
    await page.goto(`${srv.server.url}/`)
    await page.fill('#sign-in-token', token)
    await page.click('#sign-in-form button[type=submit]')
  }

  it('a wrongly signed token is rejected in words; a good one signs in as its sub', async () => {
    const context = await newContext()
    try {
      const page = await newPage(context)
      await signInWithToken(page, makeJwt({ sub: 'carol', exp: nowSec() + 600 }, 'not the secret'))
      await waitForNotice(page, 'Sign-in rejected')
      await until(page, () => !document.querySelector('#sign-in').hidden, null, 'the sign-in form again')

      await signInWithToken(page, makeJwt({ sub: 'carol', exp: nowSec() + 600 }, SECRET))
      await waitOnline(page)
      assert.equal(await page.textContent('#whoami'), 'Signed in as carol')
      // Errors come as {name, code, args} objects: still shown in words.
      await page.fill('#room-name', 'nowhere')
      await page.click('#join-room')
      await waitForNotice(page, 'No such room nowhere')
      await page.fill('#room-name', 'bad:name')
      await page.click('#create-room')
      await waitForNotice(page, 'Action is not allowed')
      assert.deepEqual(pageErrors, [])
    } finally {
      await context.close()
    }
  })
})

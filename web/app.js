// The web chat's logic: sign-in, rooms, history paging, reconnect resync,
// userlists, one-to-one conversations and error display, over the chat-service
// socket.io protocol (shared/spec/protocol.md) with the socket.io-client
// global `io` from vendor/socket.io.min.js.
//
// Everything that comes from the network is put into the page as text
// (textContent / text nodes), never parsed as HTML.
'use strict'

;(() => {
  const params = new URLSearchParams(location.search)
  const NAMESPACE = params.get('namespace') || '/chat-service'
  const ACK_TIMEOUT_MS = 10000
  const SESSION_KEY = 'chat-service:session'

  // Error texts of protocol.md 2.4, for servers run with
  // --use-raw-error-objects (errors are then {name, code, args}).
  const ERROR_FORMATS = {
    badArgument: 'Bad argument at position %s, value %j',
    internalError: '%s',
    invalidName: 'String %s contains invalid characters',
    invalidSocket: 'Socket %s is not connected',
    noCommand: 'No such command %s',
    listLimitExceeded: 'Exceeded %s size limit',
    noList: 'No such list %s',
    noLogin: 'No login provided',
    noRoom: 'No such room %s',
    noSocket: 'Command %s requires a valid socket',
    noUser: 'No such user %s',
    noUserOnline: 'No such user online %s',
    notAllowed: 'Action is not allowed',
    notJoined: 'Not joined to room %s',
    roomExists: 'Room %s already exists',
    timeout: 'Server operation timeout',
    userExists: 'User %s already exists',
    userOnline: 'User %s is online',
    wrongArgumentsCount: 'Expected %s arguments, got %s'
  }

  const $ = (id) => document.getElementById(id)

  /** Creates an element; string children become text nodes. */
  function el (tag, props = {}, ...children) {
    const node = document.createElement(tag)
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue
      if (key === 'class') node.className = value
      else if (key === 'text') node.textContent = value
      else if (key.includes('-') || key === 'title' || key === 'role') node.setAttribute(key, String(value))
      else node[key] = value
    }
    for (const child of children) {
      if (child !== undefined && child !== null) node.append(child)
    }
    return node
  }

  /** An error value of an ack (string or raw object) in words. */
  function words (error) {
    if (typeof error === 'string') return error.replace(/^ChatServiceError: /, '')
    if (error instanceof Error) return error.message
    if (error && typeof error === 'object' && typeof error.code === 'string') {
      const args = Array.isArray(error.args) ? [...error.args] : []
      const format = ERROR_FORMATS[error.code]
      if (!format) return error.code
      return format.replace(/%[sj]/g, (p) => {
        if (!args.length) return p
        const arg = args.shift()
        return p === '%j' || typeof arg !== 'string' ? JSON.stringify(arg) : arg
      })
    }
    return JSON.stringify(error)
  }

  class AckError extends Error {}

  const state = {
    socket: null,
    creds: null, // {name} or {token}
    online: false,
    user: null,
    socketId: null,
    nconnected: 0,
    maxGet: 100,
    rooms: new Map(), // name -> room (see ensureRoom)
    dms: new Map(), // peer -> {peer, room}: a stored conversation (its room in `rooms`)
    current: null // {kind: 'room' | 'dm', name}: a room, or a conversation by peer
  }

  // ---- notices -------------------------------------------------------

  /** Shows a notice until dismissed; `kind` is 'error' or 'info'. */
  function notify (kind, title, detail) {
    const box = $('notices')
    const close = el('button', { type: 'button', class: 'notice-close', title: 'Dismiss', 'aria-label': 'Dismiss', text: '×' })
    const item = el('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      el('strong', { text: title }), detail ? el('span', { class: 'notice-detail', text: detail }) : null, close)
    close.addEventListener('click', () => item.remove())
    box.append(item)
    while (box.children.length > 6) box.firstElementChild.remove()
    if (kind === 'info') setTimeout(() => item.remove(), 8000)
  }

  function fail (title) {
    return (error) => notify('error', title, words(error))
  }

  function setStatus (stateName, text) {
    const status = $('status')
    status.dataset.state = stateName
    status.textContent = text
  }

  // ---- requests ------------------------------------------------------

  /** Sends a command; resolves with the ack data, rejects with the error. */
  function call (command, ...args) {
    return new Promise((resolve, reject) => {
      const socket = state.socket
      if (!socket || !state.online) {
        reject(new AckError('You are not connected; reconnecting…'))
        return
      }
      let answered = false
      const timer = setTimeout(() => {
        answered = true
        reject(new AckError(`No answer from the server within ${ACK_TIMEOUT_MS / 1000} s`))
      }, ACK_TIMEOUT_MS)
      socket.emit(command, ...args, (error, data) => {
        if (answered) return
        answered = true
        clearTimeout(timer)
        if (error === null || error === undefined) resolve(data)
        else reject(new AckError(words(error)))
      })
    })
  }

  // ---- session -------------------------------------------------------

  function saveSession () {
    const joined = [...state.rooms.values()].filter((r) => r.wanted).map((r) => r.name)
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ creds: state.creds, joined, current: state.current }))
  }

  function loadSession () {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null')
    } catch {
      return null
    }
  }

  function createdKey () {
    return `chat-service:created:${state.user}`
  }

  function createdRooms () {
    try {
      const list = JSON.parse(localStorage.getItem(createdKey()) || '[]')
      return Array.isArray(list) ? list.filter((r) => typeof r === 'string') : []
    } catch {
      return []
    }
  }

  function rememberCreated (name) {
    const list = createdRooms()
    if (!list.includes(name)) localStorage.setItem(createdKey(), JSON.stringify([...list, name]))
  }

  function forgetCreated (name) {
    localStorage.setItem(createdKey(), JSON.stringify(createdRooms().filter((r) => r !== name)))
  }

  // ---- connection ----------------------------------------------------

  function signIn (creds, restore) {
    state.creds = creds
    const options = { reconnectionDelayMax: 3000 }
    if (creds.token) options.auth = { token: creds.token }
    else options.query = { user: creds.name }
    const socket = io(NAMESPACE, options)
    state.socket = socket
    setStatus('connecting', 'Connecting…')
    if (restore) {
      for (const name of restore.joined || []) ensureRoom(name).wanted = true
      if (restore.current) state.current = restore.current
    }

    socket.on('loginConfirmed', (userName, authData) => {
      const again = state.user === userName
      state.user = userName
      state.socketId = authData && authData.id
      for (const room of state.rooms.values()) adoptConversation(room)
      state.online = true
      state.nconnected = Math.max(state.nconnected, 1)
      $('sign-in').hidden = true
      $('chat').hidden = false
      $('sign-out').hidden = false
      $('whoami').textContent = `Signed in as ${userName}`
      updateStatus()
      saveSession()
      afterLogin(again).catch(fail('Could not restore your rooms'))
    })
    socket.on('loginRejected', (error) => {
      notify('error', 'Sign-in rejected', words(error))
      signOut()
    })
    socket.on('connect_error', (error) => {
      setStatus('offline', `Cannot connect (${error.message}); retrying…`)
    })
    socket.on('disconnect', (reason) => {
      state.online = false
      for (const room of state.rooms.values()) room.joined = false
      render()
      if (reason === 'io server disconnect') {
        if (state.user) notify('error', 'Disconnected by the server', 'Reload the page to connect again.')
        setStatus('offline', 'Disconnected by the server')
      } else if (reason !== 'io client disconnect') {
        setStatus('reconnecting', `Connection lost (${reason}); reconnecting…`)
      }
    })
    socket.on('socketConnectEcho', (id, nconnected) => {
      state.nconnected = nconnected
      updateStatus()
    })
    socket.on('socketDisconnectEcho', (id, nconnected) => {
      state.nconnected = nconnected
      updateStatus()
    })

    socket.on('roomMessage', (name, message) => {
      const room = ensureRoom(name)
      addMessages(room, [message], 'live')
    })
    socket.on('roomUserJoined', (name, user) => {
      const room = state.rooms.get(name)
      if (!room) return
      room.users.add(user)
      if (isCurrentRoom(name)) renderUsers()
    })
    socket.on('roomUserLeft', (name) => {
      // Sent on every socket-level leave: the user may still be present
      // with another socket, so read the list again.
      const room = state.rooms.get(name)
      if (room && room.joined) refreshUsers(room).catch(fail(`Could not read who is in “${name}”`))
    })
    socket.on('roomJoinedEcho', (name, id, njoined) => {
      const room = ensureRoom(name)
      room.elsewhere = njoined - (room.joined ? 1 : 0) > 0
      renderRooms()
    })
    socket.on('roomLeftEcho', (name, id, njoined) => {
      const room = state.rooms.get(name)
      if (!room) return
      room.elsewhere = njoined - (room.joined ? 1 : 0) > 0
      dropRoomIfUnused(room)
      renderRooms()
    })
    socket.on('roomAccessRemoved', (name) => {
      const room = state.rooms.get(name)
      if (room) {
        room.joined = false
        room.wanted = false
        room.elsewhere = false
        dropRoomIfUnused(room)
      }
      notify('info', `You left “${name}”`, 'Your access to the room was removed.')
      saveSession()
      render()
    })
    // This server's stored conversations: the ones of this user at login,
    // and each new one. Joined at once, so that what waits is there and
    // what comes arrives.
    socket.on('conversations', (list) => {
      for (const { user, room } of Array.isArray(list) ? list : []) {
        if (typeof user !== 'string' || typeof room !== 'string') continue
        ensureDm(user, room)
        if (!state.rooms.get(room).joined) joinRoom(room, { quietFailure: true })
      }
      renderDms()
    })
    // Clients of other servers' kind may still send unstored direct
    // messages: shown as a notice.
    socket.on('directMessage', (message) => {
      const text = message && typeof message.textMessage === 'string' ? message.textMessage : JSON.stringify(message)
      notify('info', `Direct message from ${message && message.author}`, text)
    })
    socket.on('systemMessage', (data) => {
      notify('info', 'System message', typeof data === 'string' ? data : JSON.stringify(data))
    })
  }

  function updateStatus () {
    const others = state.nconnected > 1 ? ` · ${state.nconnected} connections` : ''
    setStatus('online', `Online${others}`)
  }

  function signOut () {
    if (state.socket) {
      state.socket.removeAllListeners()
      state.socket.disconnect()
    }
    Object.assign(state, {
      socket: null,
      creds: null,
      online: false,
      user: null,
      socketId: null,
      nconnected: 0,
      rooms: new Map(),
      dms: new Map(),
      current: null
    })
    sessionStorage.removeItem(SESSION_KEY)
    $('chat').hidden = true
    $('sign-in').hidden = false
    $('sign-out').hidden = true
    $('whoami').textContent = ''
    setStatus('offline', 'Not signed in')
    render()
  }

  /** After every login (first one and each reconnect): find the rooms
   *  this user is in, join again the rooms this tab was in, catch up. */
  async function afterLogin (reconnected) {
    for (const name of createdRooms()) ensureRoom(name)
    const own = await call('listOwnSockets')
    state.nconnected = Math.max(1, Object.keys(own || {}).length)
    updateStatus()
    const elsewhere = new Set()
    for (const [id, rooms] of Object.entries(own || {})) {
      if (id === state.socketId) continue
      for (const name of rooms) elsewhere.add(name)
    }
    for (const name of elsewhere) ensureRoom(name)
    for (const room of state.rooms.values()) room.elsewhere = elsewhere.has(room.name)
    render()
    const wanted = [...state.rooms.values()].filter((r) => r.wanted)
    for (const room of wanted) {
      await joinRoom(room.name, { quietFailure: reconnected })
    }
    if (!state.current && wanted.length) {
      const first = wanted[0]
      if (first.peer) select('dm', first.peer)
      else select('room', first.name)
    }
    render()
  }

  // ---- rooms ---------------------------------------------------------

  function ensureRoom (name) {
    let room = state.rooms.get(name)
    if (!room) {
      room = {
        name,
        joined: false, // this tab's socket is joined
        wanted: false, // this tab wants to be joined (kept over reconnects)
        elsewhere: false, // another socket of this user is joined
        messages: new Map(), // id -> {message, via}
        lastId: 0, // highest id this tab has seen
        noOlder: false,
        loadingOlder: false,
        unread: 0,
        users: new Set(),
        userlistUpdates: null,
        peer: null // the other user, for a conversation's room
      }
      state.rooms.set(name, room)
      adoptConversation(room)
    }
    return room
  }

  /** A room named `dm:<a>:<b>` with this user as a or b is their stored
   *  conversation with the other: listed with the people, not the rooms. */
  function adoptConversation (room) {
    if (room.peer || !state.user || !room.name.startsWith('dm:')) return
    const [a, b] = room.name.slice(3).split(':')
    const peer = a === state.user ? b : b === state.user ? a : null
    if (!peer) return
    room.peer = peer
    if (!state.dms.has(peer)) state.dms.set(peer, { peer, room: room.name })
  }

  function dropRoomIfUnused (room) {
    if (room.peer || room.joined || room.wanted || room.elsewhere || createdRooms().includes(room.name)) return
    state.rooms.delete(room.name)
    if (isCurrentRoom(room.name)) state.current = null
  }

  /** Joins a room, then shows its recent history, or after a reconnect
   *  fetches exactly the messages missed meanwhile. */
  async function joinRoom (name, { quietFailure = false } = {}) {
    const room = ensureRoom(name)
    const missedAfter = room.lastId
    try {
      await call('roomJoin', name)
    } catch (error) {
      room.wanted = false
      // A room this page created may have been deleted since.
      if (words(error).startsWith('No such room ')) forgetCreated(name)
      dropRoomIfUnused(room)
      saveSession()
      render()
      notify('error', quietFailure ? `Could not join “${name}” again` : `Could not join “${name}”`, words(error))
      return false
    }
    room.joined = true
    room.wanted = true
    saveSession()
    renderRooms()
    try {
      const info = await call('roomHistoryInfo', name)
      state.maxGet = info.historyMaxGetMessages
      if (missedAfter > 0) {
        await fetchMissed(room, missedAfter, info)
      } else {
        const recent = await call('roomRecentHistory', name)
        addMessages(room, recent, 'history')
        const oldest = oldestId(room)
        room.noOlder = info.lastMessageId === 0 || oldest === null || oldest <= 1 || recent.length === 0
      }
    } catch (error) {
      notify('error', `Could not read the history of “${name}”`, words(error))
    }
    await refreshUsers(room).catch(fail(`Could not read who is in “${name}”`))
    return true
  }

  /** roomHistoryInfo + roomHistoryGet: the messages after `after`, in
   *  windows of historyMaxGetMessages (protocol.md 8, sync pattern). */
  async function fetchMissed (room, after, info) {
    const step = info.historyMaxGetMessages
    if (step <= 0) return
    for (let cursor = after; cursor < info.lastMessageId; cursor += step) {
      const batch = await call('roomHistoryGet', room.name, cursor, step)
      addMessages(room, batch, 'resync')
    }
  }

  async function loadOlder (room) {
    const oldest = oldestId(room)
    if (oldest === null || oldest <= 1 || state.maxGet <= 0) {
      room.noOlder = true
      renderMessages()
      return
    }
    room.loadingOlder = true
    renderMessages()
    try {
      const start = Math.max(0, oldest - 1 - state.maxGet)
      const batch = await call('roomHistoryGet', room.name, start, oldest - 1 - start)
      addMessages(room, batch, 'older')
      if (start === 0 || batch.length === 0) room.noOlder = true
    } catch (error) {
      notify('error', `Could not load older messages of “${room.name}”`, words(error))
    } finally {
      room.loadingOlder = false
      renderMessages()
    }
  }

  function oldestId (room) {
    let oldest = null
    for (const id of room.messages.keys()) if (oldest === null || id < oldest) oldest = id
    return oldest
  }

  function addMessages (room, messages, via) {
    let added = 0
    for (const message of messages || []) {
      const id = message && message.id
      if (typeof id !== 'number' || room.messages.has(id)) continue
      room.messages.set(id, { message, via })
      room.lastId = Math.max(room.lastId, id)
      added++
      if (isCurrentRoom(room.name)) insertMessage(id, message, via)
    }
    if (added && !isCurrentRoom(room.name) && (via === 'live' || via === 'resync')) {
      room.unread += added
      renderRooms()
      renderDms()
    }
  }

  async function refreshUsers (room) {
    const [users, notifications] = await Promise.all([
      call('roomGetAccessList', room.name, 'userlist'),
      room.userlistUpdates === null ? call('roomNotificationsInfo', room.name) : null
    ])
    room.users = new Set(users)
    if (notifications) room.userlistUpdates = notifications.enableUserlistUpdates
    if (isCurrentRoom(room.name)) renderUsers()
  }

  async function leaveRoom (room) {
    try {
      await call('roomLeave', room.name)
    } catch (error) {
      notify('error', `Could not leave “${room.name}”`, words(error))
      return
    }
    room.joined = false
    room.wanted = false
    room.messages.clear()
    room.lastId = 0
    room.noOlder = false
    if (isCurrentRoom(room.name)) state.current = null
    dropRoomIfUnused(room)
    saveSession()
    render()
  }

  async function createRoom (name) {
    try {
      await call('roomCreate', name, false)
    } catch (error) {
      notify('error', `Could not create “${name}”`, words(error))
      return
    }
    rememberCreated(name)
    if (await joinRoom(name)) select('room', name)
  }

  // ---- conversations -------------------------------------------------

  /** The room of this user's stored conversation with `peer` (the server
   *  makes it when one of them first joins it). */
  function conversationRoom (peer) {
    return `dm:${[state.user, peer].sort().join(':')}`
  }

  function ensureDm (peer, name = conversationRoom(peer)) {
    ensureRoom(name)
    if (!state.dms.has(peer)) state.dms.set(peer, { peer, room: name })
    return state.dms.get(peer)
  }

  /** Opens the conversation with `peer`: joins its room (made on first
   *  join) and shows it with its history. */
  async function openDm (peer) {
    const dm = ensureDm(peer)
    const room = state.rooms.get(dm.room)
    if (!room.joined && !(await joinRoom(dm.room))) return
    select('dm', peer)
  }

  // ---- sending -------------------------------------------------------

  async function send (text) {
    const current = state.current
    if (!current) return false
    try {
      await call('roomMessage', currentRoom().name, { textMessage: text })
      return true
    } catch (error) {
      const where = current.kind === 'room' ? `to “${current.name}”` : `to ${current.name}`
      notify('error', `Message ${where} not sent`, words(error))
      return false
    }
  }

  // ---- rendering -----------------------------------------------------

  function isCurrent (kind, name) {
    return !!state.current && state.current.kind === kind && state.current.name === name
  }

  /** The room shown: the current room, or the current conversation's. */
  function currentRoom () {
    const current = state.current
    if (!current || (current.kind === 'dm' && !state.user)) return null
    const name = current.kind === 'room' ? current.name : ensureDm(current.name).room
    return state.rooms.get(name) || null
  }

  function isCurrentRoom (name) {
    const room = currentRoom()
    return !!room && room.name === name
  }

  function select (kind, name) {
    state.current = { kind, name }
    const room = kind === 'room' ? ensureRoom(name) : state.rooms.get(ensureDm(name).room)
    room.unread = 0
    saveSession()
    render()
    $('composer-text').focus()
  }

  function render () {
    renderRooms()
    renderDms()
    renderConversation()
  }

  function renderRooms () {
    const list = $('room-list')
    // Conversations are listed with the people.
    const rooms = [...state.rooms.values()].filter((r) => !r.peer).sort((a, b) => a.name.localeCompare(b.name))
    list.replaceChildren(...rooms.map((room) => {
      const waiting = room.wanted && !state.online
      const status = room.joined ? 'joined' : waiting ? 'reconnecting' : room.elsewhere ? 'in another tab' : 'not joined'
      const button = el('button', { type: 'button', class: 'nav-item', title: `#${room.name} (${status})` },
        el('span', { class: 'nav-name', text: `# ${room.name}` }),
        room.unread ? el('span', { class: 'badge', text: String(room.unread) }) : null,
        room.joined ? null : el('span', { class: 'nav-state', text: waiting ? '…' : room.elsewhere ? 'other tab' : 'join' }))
      button.addEventListener('click', () => {
        if (room.joined) select('room', room.name)
        else joinRoom(room.name).then((ok) => ok && select('room', room.name))
      })
      return el('li', {
        class: `nav room ${room.joined ? 'joined' : ''} ${isCurrent('room', room.name) ? 'active' : ''}`,
        'data-room': room.name
      }, button)
    }))
    $('room-list-empty').hidden = rooms.length > 0
  }

  function renderDms () {
    const list = $('dm-list')
    const dms = [...state.dms.values()].sort((a, b) => a.peer.localeCompare(b.peer))
    list.replaceChildren(...dms.map((dm) => {
      const room = state.rooms.get(dm.room)
      const unread = room ? room.unread : 0
      const button = el('button', { type: 'button', class: 'nav-item' },
        el('span', { class: 'nav-name', text: `@ ${dm.peer}` }),
        unread ? el('span', { class: 'badge', text: String(unread) }) : null)
      button.addEventListener('click', () => openDm(dm.peer).catch(fail(`Could not open the conversation with ${dm.peer}`)))
      return el('li', { class: `nav ${isCurrent('dm', dm.peer) ? 'active' : ''}`, 'data-peer': dm.peer }, button)
    }))
  }

  function renderConversation () {
    const current = state.current
    const title = $('conversation-title')
    const info = $('conversation-info')
    const connected = state.online
    if (!current) {
      title.textContent = 'No conversation'
      info.textContent = ''
    } else {
      title.textContent = current.kind === 'room' ? `# ${current.name}` : `@ ${current.name}`
      const room = currentRoom()
      info.textContent = room && !room.joined ? (connected ? 'not joined' : 'offline') : current.kind === 'dm' ? 'conversation (kept by the server)' : ''
    }
    const room = currentRoom()
    $('leave-room').hidden = !(room && room.joined && current.kind === 'room')
    const canSend = connected && !!room && room.joined
    $('composer-text').disabled = !canSend
    $('composer-send').disabled = !canSend
    $('composer-text').placeholder = current ? `Message ${current.kind === 'room' ? '#' : '@'}${current.name}` : 'Write a message…'
    renderMessages(true)
    renderUsers()
  }

  function renderMessages (rebuild = false) {
    const current = state.current
    const list = $('message-list')
    const room = currentRoom()
    if (rebuild) {
      list.replaceChildren()
      if (room) {
        const ids = [...room.messages.keys()].sort((a, b) => a - b)
        for (const id of ids) {
          const { message, via } = room.messages.get(id)
          list.append(messageItem(message, via, id))
        }
      }
      scrollToBottom()
    }
    const older = $('load-older')
    older.hidden = !room || room.noOlder || room.messages.size === 0
    older.disabled = !!room && (room.loadingOlder || !state.online)
    older.textContent = room && room.loadingOlder ? 'Loading…' : 'Load older messages'
    $('no-older').hidden = !room || !room.noOlder || room.messages.size === 0
    $('conversation-empty').hidden = list.children.length > 0
    $('conversation-empty').textContent = !current
      ? 'Pick a room or a person on the left.'
      : room && room.joined ? 'No messages yet. Say hello!' : current.kind === 'dm' ? `Write to ${current.name}.` : ''
  }

  function colorOf (name) {
    let hash = 0
    for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0
    return `hsl(${hash % 360} 55% 42%)`
  }

  function messageItem (message, via, id) {
    const author = typeof message.author === 'string' ? message.author : null
    const mine = author !== null && author === state.user
    const text = typeof message.textMessage === 'string' ? message.textMessage : JSON.stringify(message)
    const time = typeof message.timestamp === 'number'
      ? new Date(message.timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : ''
    const avatar = el('span', { class: 'avatar', 'aria-hidden': 'true', text: author ? [...author][0].toUpperCase() : '·' })
    avatar.style.background = author ? colorOf(author) : '#888'
    return el('li', { class: `msg ${mine ? 'mine' : ''}`, 'data-id': id, 'data-via': via },
      avatar,
      el('div', { class: 'msg-body' },
        el('div', { class: 'msg-meta' },
          el('span', { class: 'msg-author', text: author || 'server' }),
          el('time', { class: 'msg-time', text: time, title: typeof message.timestamp === 'number' ? new Date(message.timestamp).toString() : '' })),
        el('div', { class: 'msg-text', text })))
  }

  function nearBottom () {
    const box = $('messages')
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80
  }

  function scrollToBottom () {
    const box = $('messages')
    box.scrollTop = box.scrollHeight
  }

  /** Puts a room message at its place by id. */
  function insertMessage (id, message, via) {
    const list = $('message-list')
    const box = $('messages')
    const stick = nearBottom()
    const heightBefore = box.scrollHeight
    let before = null
    for (const item of list.children) {
      if (Number(item.dataset.id) > id) {
        before = item
        break
      }
    }
    list.insertBefore(messageItem(message, via, id), before)
    if (before && via === 'older') box.scrollTop += box.scrollHeight - heightBefore
    else if (stick) scrollToBottom()
    renderMessages()
  }

  function renderUsers () {
    const current = state.current
    const room = currentRoom()
    const list = $('user-list')
    const users = room && room.joined ? [...room.users].sort((a, b) => a.localeCompare(b)) : []
    list.replaceChildren(...users.map((user) => {
      const item = el('li', { class: 'user', 'data-user': user },
        el('span', { class: 'presence', 'aria-hidden': 'true' }),
        el('span', { class: 'user-name', text: user }),
        user === state.user ? el('span', { class: 'hint', text: ' (you)' }) : null)
      if (user !== state.user) {
        item.title = `Open your conversation with ${user}`
        item.classList.add('clickable')
        item.addEventListener('click', () => openDm(user).catch(fail(`Could not open the conversation with ${user}`)))
      }
      return item
    }))
    $('userlist-empty').hidden = users.length > 0
    $('userlist-note').textContent = room && room.joined && room.userlistUpdates === false
      ? 'Live updates are off for this room: the list is as it was when you joined.'
      : ''
  }

  // ---- wiring --------------------------------------------------------

  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const name = $('sign-in-name').value.trim()
    const token = $('sign-in-token').value.trim()
    if (!name && !token) {
      notify('error', 'Sign-in', 'Type a name or paste a token.')
      return
    }
    signIn(token ? { token } : { name })
  })

  $('sign-out').addEventListener('click', () => signOut())

  $('room-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const name = $('room-name').value.trim()
    if (!name) return
    $('room-name').value = ''
    const room = state.rooms.get(name)
    if (room && room.joined) select('room', name)
    else joinRoom(name).then((ok) => ok && select('room', name))
  })

  $('create-room').addEventListener('click', () => {
    const name = $('room-name').value.trim()
    if (!name) {
      notify('error', 'Create a room', 'Type the new room\'s name first.')
      return
    }
    $('room-name').value = ''
    createRoom(name)
  })

  $('dm-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const peer = $('dm-user').value.trim()
    if (!peer) return
    $('dm-user').value = ''
    openDm(peer).catch(fail(`Could not open the conversation with ${peer}`))
  })

  $('leave-room').addEventListener('click', () => {
    const current = state.current
    const room = current && current.kind === 'room' && state.rooms.get(current.name)
    if (room) leaveRoom(room)
  })

  $('load-older').addEventListener('click', () => {
    const room = currentRoom()
    if (room) loadOlder(room)
  })

  $('composer').addEventListener('submit', async (event) => {
    event.preventDefault()
    const input = $('composer-text')
    const text = input.value
    if (!text.trim()) return
    input.value = ''
    if (!(await send(text)) && !input.value) input.value = text
  })

  render()
  const session = loadSession()
  if (session && session.creds && (session.creds.name || session.creds.token)) {
    if (session.creds.name) $('sign-in-name').value = session.creds.name
    signIn(session.creds, session)
  }
})()

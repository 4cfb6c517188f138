/* global sessionStorage, location */
// Herald chat demo: everything network-related goes through the SDK. The page
// only renders what the SDK's events say; it has no reconnect, ack or dedupe
// code of its own, which is the point of the SDK.
import { HeraldClient } from './sdk/herald-client.js';

const $ = (id) => document.getElementById(id);

// One device id per browser tab: two tabs of the same user are two devices,
// not one device connecting twice (which the server resolves with close 4004).
// sessionStorage keeps it across reloads of this tab, so a reload resumes.
const device = (() => {
  const key = 'herald-demo-device';
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = 'web-' + Math.random().toString(36).slice(2, 10);
    sessionStorage.setItem(key, id);
  }
  return id;
})();

/** @type {HeraldClient | null} */
let client = null;
let me = '';
let current = '';
/** room → { messages: Array<object>, members: Map<string, {user, device}>, typing: Map<string, user> } */
const rooms = new Map();

function room(name) {
  let r = rooms.get(name);
  if (!r) {
    r = { messages: [], members: new Map(), typing: new Map() };
    rooms.set(name, r);
  }
  return r;
}

// ---------------------------------------------------------------- login

const lastName = localStorage.getItem('herald-demo-name');
if (lastName) $('name').value = lastName;

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  $('login-error').textContent = '';
  const name = $('name').value.trim();
  const firstRoom = $('room').value.trim() || 'lobby';
  const pasted = $('token').value.trim();
  localStorage.setItem('herald-demo-name', name);
  start(name, firstRoom, pasted).catch((err) => {
    $('login-error').textContent = err.message;
    showLogin();
  });
});

/** Asks the dev-mode endpoint for a token; called again by the SDK whenever the server says 4001. */
async function devToken(name) {
  const url = new URL('token', location.href);
  url.searchParams.set('user', name);
  url.searchParams.set('device', device);
  const res = await fetch(url);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const why = body?.error?.message ?? `HTTP ${res.status}`;
    throw new Error(`could not get a demo token (${why}). Outside dev mode, paste a token minted with "herald token".`);
  }
  return body.token;
}

async function start(name, firstRoom, pasted) {
  me = name;
  // Fetch the first dev token up front so a server outside dev mode is reported
  // here, instead of as an endless retry; later calls (after a 4001) fetch anew.
  let first = pasted ? '' : await devToken(name);
  const provider = async () => {
    const token = first || (await devToken(name));
    first = '';
    return token;
  };
  client = new HeraldClient({
    url: '/ws',
    // A pasted token carries its own device (did) or none; a dev token is minted for this tab's device.
    token: pasted || provider,
    ...(pasted ? {} : { device }),
    platform: 'web',
  });
  wire(client);
  // Expose the client for the browser tests and for poking around in devtools.
  window.heraldDemo = { client, device };
  $('connect').disabled = true;
  const welcome = await client.connect();
  me = welcome.user;
  showChat();
  await joinRoom(firstRoom);
  renderCurl();
}

function showChat() {
  $('login').hidden = true;
  $('chat').hidden = false;
  $('connect').disabled = false;
  $('text').focus();
}

function showLogin() {
  $('login').hidden = false;
  $('chat').hidden = true;
  $('connect').disabled = false;
}

// ---------------------------------------------------------------- SDK events

function wire(c) {
  c.on('state', ({ state }) => renderStatus(state));
  c.on('disconnected', (d) => {
    log(`disconnected (${d.code}${d.reason ? ': ' + d.reason : ''})${d.willReconnect ? `, reconnecting in ${d.delayMs} ms` : ''}`);
    if (d.willReconnect) renderStatus('reconnecting', `reconnecting in ${(d.delayMs / 1000).toFixed(1)} s…`);
    // Presence is rebuilt from the server after the reconnect.
    for (const r of rooms.values()) r.members.clear();
    renderPresence();
  });
  c.on('connected', (w) => {
    log(`connected to ${w.node} as ${w.user}/${w.device}, resuming after seq ${w.last_seq}`);
    renderConnInfo();
    // The SDK re-joined our rooms just before this event; refresh who is there.
    for (const name of c.rooms) void refreshPresence(name);
  });
  c.on('message', (m) => {
    if (m.room) {
      room(m.room).messages.push(m);
      if (m.room === current) appendMessage(m);
      else markUnread(m.room);
    } else {
      appendInbox(m);
    }
    // The SDK records the seq as processed right after the listeners return.
    queueMicrotask(renderConnInfo);
  });
  c.on('presence', (p) => {
    const members = room(p.room).members;
    const key = `${p.user}/${p.device}`;
    if (p.type === 'join') members.set(key, { user: p.user, device: p.device });
    else members.delete(key);
    if (p.room === current) renderPresence();
  });
  // Awareness state: who is typing, per room (cleared by the server when they leave or drop).
  c.on('roomState', (s) => {
    const typing = room(s.room).typing;
    const key = `${s.user}/${s.device}`;
    if (s.data && s.data.typing) typing.set(key, s.user);
    else typing.delete(key);
    if (s.room === current) renderTyping();
  });
  c.on('roomUnrecovered', ({ room: name }) => {
    log(`#${name}: messages were missed and are no longer in the room's history`, 'warn');
    void loadHistory(name);
  });
  c.on('unrecovered', ({ requestedSeq, lastSeq }) => {
    log(`the server could not replay from seq ${requestedSeq} (restarted or expired); resumed at ${lastSeq}. A real app reloads from its own database here.`, 'warn');
  });
  c.on('error', (e) => log(`${e.code}: ${e.message}`, 'warn'));
  c.on('closed', ({ code, error }) => {
    renderStatus('closed', error ? `stopped: ${explain(code, error)}` : 'signed out');
    if (error) log(`stopped: ${explain(code, error)}`, 'error');
  });
}

function explain(code, error) {
  if (code === 4004) return 'this name and device connected from somewhere else';
  if (code === 4003) return 'forbidden';
  if (error.code === 'unauthorized') return 'the token was refused';
  return error.message;
}

// ---------------------------------------------------------------- rooms

async function joinRoom(name) {
  room(name);
  selectRoom(name);
  try {
    // recover: after a drop the SDK re-joins with the room's offset and the server replays what we missed.
    await client.join(name, { recover: true });
    await Promise.all([loadHistory(name), refreshPresence(name)]);
  } catch (err) {
    log(`could not join ${name}: ${err.message}`, 'error');
    rooms.delete(name);
    selectRoom(client.rooms[0] ?? '');
  }
}

/** Room history (when the server keeps it, HERALD_ROOM_HISTORY_SIZE): what was said before we joined. */
async function loadHistory(name) {
  try {
    const earlier = await client.history(name, { limit: 50 });
    const r = room(name);
    const seen = new Set(r.messages.map((m) => m.id));
    r.messages = [...earlier.filter((m) => !seen.has(m.id)), ...r.messages].sort((a, b) => (a.offset ?? 0) - (b.offset ?? 0));
    if (name === current) selectRoom(name);
  } catch (err) {
    log(`history of ${name}: ${err.message}`, 'warn');
  }
}

async function refreshPresence(name) {
  try {
    const reply = await client.presence(name);
    const members = room(name).members;
    members.clear();
    for (const m of reply.members ?? []) members.set(`${m.user}/${m.device}`, { user: m.user, device: m.device });
    if (name === current) renderPresence();
  } catch (err) {
    log(`presence of ${name}: ${err.message}`, 'warn');
  }
}

function selectRoom(name) {
  current = name;
  $('room-title').textContent = name ? `#${name}` : 'no room';
  renderRooms();
  renderPresence();
  const list = $('messages');
  list.replaceChildren();
  for (const m of room(name).messages) appendMessage(m);
  renderTyping();
}

function renderTyping() {
  const names = current ? [...new Set(room(current).typing.values())].filter((u) => u !== me) : [];
  $('typing').textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
}

// "typing" via awareness state: set on the first keystroke, cleared 3 s after the last one.
let typingTimer;
let typingRoom = '';
$('text').addEventListener('input', () => {
  if (!client || !current) return;
  if (typingRoom !== current) {
    if (typingRoom) void client.setState(typingRoom, null).catch(() => {});
    typingRoom = current;
    void client.setState(current, { typing: true }).catch(() => {});
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 3000);
});

function stopTyping() {
  clearTimeout(typingTimer);
  if (client && typingRoom) void client.setState(typingRoom, null).catch(() => {});
  typingRoom = '';
}

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('join-room').value.trim();
  if (!name) return;
  $('join-room').value = '';
  void joinRoom(name);
});

$('send-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || !current) return;
  $('text').value = '';
  stopTyping();
  try {
    // The server echoes room messages to every member, us included: that echo is what we render.
    await client.publish(current, { text }, { event: 'chat' });
  } catch (err) {
    log(`not sent (${err.code}): ${err.message}`, 'error');
    $('text').value = text;
  }
});

$('drop').addEventListener('click', () => client?.reconnect());

$('logout').addEventListener('click', () => {
  client?.close();
  client = null;
  rooms.clear();
  current = '';
  $('messages').replaceChildren();
  $('inbox').replaceChildren();
  showLogin();
});

// ---------------------------------------------------------------- rendering

function renderStatus(state, text) {
  const el = $('status');
  el.dataset.state = state;
  $('status-text').textContent =
    text ??
    {
      idle: 'not connected',
      connecting: 'connecting…',
      connected: `connected as ${me}`,
      reconnecting: 'reconnecting…',
      closed: 'disconnected',
    }[state];
}

function renderRooms() {
  const list = $('room-list');
  list.replaceChildren(
    ...[...rooms.keys()].map((name) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `#${name}`;
      button.className = name === current ? 'active' : '';
      button.addEventListener('click', () => selectRoom(name));
      li.append(button);
      return li;
    }),
  );
}

function markUnread(name) {
  for (const button of $('room-list').querySelectorAll('button')) {
    if (button.textContent === `#${name}`) button.classList.add('unread');
  }
}

function renderPresence() {
  const members = current ? [...room(current).members.values()] : [];
  members.sort((a, b) => a.user.localeCompare(b.user) || a.device.localeCompare(b.device));
  $('presence-count').textContent = members.length ? `(${members.length})` : '';
  $('presence-list').replaceChildren(
    ...members.map((m) => {
      const li = document.createElement('li');
      li.dataset.user = m.user;
      const name = document.createElement('span');
      name.className = 'who';
      name.textContent = m.user + (m.user === me ? ' (you)' : '');
      const dev = document.createElement('span');
      dev.className = 'device';
      dev.textContent = m.device;
      li.append(name, dev);
      return li;
    }),
  );
}

function time(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function text(data) {
  if (data && typeof data === 'object' && typeof data.text === 'string') return data.text;
  if (data instanceof Uint8Array) return `(${data.length} bytes)`;
  return JSON.stringify(data);
}

function appendMessage(m) {
  const li = document.createElement('li');
  li.className = m.from === me ? 'mine' : '';
  li.dataset.from = m.from ?? '';
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.textContent = `${m.from ?? 'server'} · ${time(m.ts)}`;
  const body = document.createElement('div');
  body.className = 'body';
  body.textContent = text(m.data);
  li.append(meta, body);
  const list = $('messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function appendInbox(m) {
  const li = document.createElement('li');
  if (m.seq !== undefined) li.dataset.seq = String(m.seq);
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.textContent = `${m.seq !== undefined ? `seq ${m.seq}` : 'ephemeral'}${m.event ? ` · ${m.event}` : ''} · ${time(m.ts)}`;
  const body = document.createElement('div');
  body.className = 'body';
  body.textContent = text(m.data);
  li.append(meta, body);
  const list = $('inbox');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function renderConnInfo() {
  const w = client?.welcome;
  const rows = [
    ['user', me],
    ['device', w?.device ?? device],
    ['node', w?.node ?? '—'],
    ['last seq', String(client?.lastSeq ?? '—')],
  ];
  $('conn-info').replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dd.dataset.key = k;
      return [dt, dd];
    }),
  );
}

function renderCurl() {
  $('curl').textContent =
    `curl -X POST ${location.origin}/api/v1/publish \\\n` +
    `  -H "Authorization: Bearer $HERALD_API_KEY" \\\n` +
    `  -H "Content-Type: application/json" \\\n` +
    `  -d '{"to":{"user":"${me}"},"data":{"text":"hello ${me}"}}'`;
}

function log(message, level = 'info') {
  const li = document.createElement('li');
  li.className = level;
  li.textContent = `${new Date().toLocaleTimeString()} ${message}`;
  const list = $('log');
  list.append(li);
  while (list.children.length > 50) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

/* global URLSearchParams */
// Herald admin: user lookup and actions (disconnect, send a test message).
// Every POST carries the session's CSRF token (GET /admin/api/csrf) in
// X-Herald-CSRF; data is rendered with textContent only.
'use strict';

(() => {
  const el = (id) => document.getElementById(id);
  let csrf = null;
  let current = null; // { tenant, user } of the last lookup

  async function token() {
    if (csrf) return csrf;
    const res = await fetch('/admin/api/csrf', { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) window.location.assign('/admin/login');
    if (!res.ok) throw new Error('no CSRF token (HTTP ' + res.status + ')');
    csrf = await res.json();
    return csrf;
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      return body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + res.status;
    } catch {
      return 'HTTP ' + res.status;
    }
  }

  function say(text, state) {
    el('user-result').textContent = text;
    el('user-result').dataset.state = state;
  }

  async function post(path, body) {
    const t = await token();
    const res = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', [t.header]: t.token },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(await errorText(res));
    return res.json();
  }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  }

  function render(u) {
    const depth = u.inbox ? (u.inbox.truncated ? 'at least ' : '') + u.inbox.depth + ' held, last seq ' + u.inbox.tip : 'not available on this engine';
    el('user-summary').textContent = u.tenant + ' / ' + u.user + ': ' + (u.online ? u.devices.length + ' device(s) online' : 'offline') + ' · inbox ' + depth;
    const body = el('user-devices').tBodies[0];
    body.replaceChildren();
    for (const d of u.devices) {
      const tr = document.createElement('tr');
      tr.dataset.device = d.device;
      cell(tr, d.device);
      cell(tr, d.platform);
      cell(tr, d.node);
      cell(tr, new Date(d.since).toLocaleString());
      cell(tr, d.cursor === null ? '–' : String(d.cursor), 'num');
      cell(tr, d.unacked === null ? '–' : (u.inbox && u.inbox.truncated ? '≥ ' : '') + String(d.unacked), 'num');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'danger disconnect-device';
      b.textContent = 'Disconnect';
      b.addEventListener('click', () => act(() => post('/admin/api/disconnect', { tenant: u.tenant, user: u.user, device: d.device }), 'disconnected ' + d.device));
      cell(tr, '').append(b);
      body.append(tr);
    }
    el('user-devices').hidden = u.devices.length === 0;
    el('user-actions').hidden = false;
  }

  async function lookup() {
    if (!current) return;
    const q = new URLSearchParams({ user: current.user });
    if (current.tenant) q.set('tenant', current.tenant);
    const res = await fetch('/admin/api/user?' + q, { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) {
      window.location.assign('/admin/login');
      return;
    }
    if (!res.ok) throw new Error(await errorText(res));
    render(await res.json());
  }

  async function act(fn, done) {
    try {
      const r = await fn();
      say(done + (r && r.id ? ' (id ' + r.id + ')' : ''), 'ok');
      await lookup();
      // A disconnected device leaves presence once its close handshake ends: look again shortly.
      setTimeout(() => lookup().catch(() => undefined), 600);
    } catch (err) {
      say(err.message, 'error');
    }
  }

  el('lookup').addEventListener('submit', (ev) => {
    ev.preventDefault();
    current = { tenant: el('lookup-tenant').value.trim(), user: el('lookup-user').value.trim() };
    say('', '');
    lookup().catch((err) => say(err.message, 'error'));
  });

  el('disconnect-user').addEventListener('click', () => {
    if (!current) return;
    act(() => post('/admin/api/disconnect', { ...(current.tenant ? { tenant: current.tenant } : {}), user: current.user }), 'disconnected every device of ' + current.user);
  });

  el('send-test').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!current) return;
    const raw = el('send-data').value;
    let data;
    try {
      data = JSON.parse(raw);
    } catch {
      data = raw; // not JSON: sent as a string
    }
    act(() => post('/admin/api/send', { ...(current.tenant ? { tenant: current.tenant } : {}), user: current.user, data, event: 'admin.test' }), 'test message sent');
  });
})();

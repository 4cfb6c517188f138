// Herald admin dashboard: polls /admin/api/stats and renders it. Plain DOM,
// textContent only (node names and codes are data, never HTML).
'use strict';

const POLL_MS = 1500;
const WINDOW_MS = 5000; // rates and latencies cover about the last 5 s
const SPARK_POINTS = 60;

const history = []; // recent snapshots, oldest first
const sparks = { published: [], delivered: [] };

const $ = (id) => document.getElementById(id);

function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}
function fmtRate(n) {
  if (!Number.isFinite(n)) return '–';
  return n >= 100 ? fmtInt(n) : n.toFixed(1);
}
function fmtMs(sec) {
  if (sec === undefined || !Number.isFinite(sec)) return '–';
  const ms = sec * 1000;
  return ms < 10 ? ms.toFixed(2) + ' ms' : ms < 1000 ? ms.toFixed(0) + ' ms' : (ms / 1000).toFixed(1) + ' s';
}
function fmtBytes(b) {
  return b > 1 << 30 ? (b / (1 << 30)).toFixed(1) + ' GiB' : (b / (1 << 20)).toFixed(0) + ' MiB';
}
function fmtDuration(sec) {
  if (sec < 120) return sec + ' s';
  if (sec < 7200) return Math.floor(sec / 60) + ' min';
  if (sec < 172800) return Math.floor(sec / 3600) + ' h';
  return Math.floor(sec / 86400) + ' d';
}

/** Quantile (seconds) from cumulative buckets [[le|null, count], ...]. */
function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === null) return prevLe;
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket : le;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** The histogram of observations made since `old` (or all of them). */
function windowed(now, old) {
  if (!old || old.count > now.count) return now;
  const buckets = now.buckets.map(([le, c], i) => [le, c - (old.buckets[i] ? old.buckets[i][1] : 0)]);
  const count = now.count - old.count;
  return count > 0 ? { buckets, count } : now;
}

function latencyText(now, old) {
  const h = windowed(now, old);
  if (!h.count) return '–';
  return fmtMs(quantile(h.buckets, 0.5)) + ' / ' + fmtMs(quantile(h.buckets, 0.99));
}

function fillTable(id, rows) {
  const body = $(id).querySelector('tbody');
  if (rows.length === 0) {
    const td = document.createElement('td');
    td.colSpan = $(id).querySelectorAll('thead th').length;
    td.className = 'empty';
    td.textContent = 'none';
    const tr = document.createElement('tr');
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      if (cells.className) tr.className = cells.className;
      if (cells.key !== undefined) tr.dataset.key = cells.key;
      for (const [text, num] of cells.values) {
        const td = document.createElement('td');
        td.textContent = text;
        if (num) td.className = 'num';
        tr.append(td);
      }
      return tr;
    }),
  );
}

function spark(id, values) {
  const max = Math.max(1, ...values);
  const step = 120 / (SPARK_POINTS - 1);
  const offset = SPARK_POINTS - values.length;
  const pts = values.map((v, i) => ((offset + i) * step).toFixed(1) + ',' + (29 - (v / max) * 27).toFixed(1)).join(' ');
  $(id).querySelector('polyline').setAttribute('points', pts);
}

function render(s) {
  history.push(s);
  while (history.length > 2 && s.time - history[1].time >= WINDOW_MS) history.shift();
  const old = history.length > 1 ? history[0] : undefined;
  const dt = old ? (s.time - old.time) / 1000 : 0;
  const rate = (k) => (old && dt > 0 ? Math.max(0, s.counters[k] - old.counters[k]) / dt : NaN);

  const status = $('status');
  const state = !s.engineUp ? 'down' : s.draining ? 'draining' : 'ready';
  status.dataset.state = state;
  status.textContent = state === 'down' ? 'engine down' : state;
  $('node').textContent = s.node;
  $('engine').textContent = s.engine;
  $('uptime').textContent = fmtDuration(s.uptimeSec);
  const p = s.protection;
  if (p) {
    const shed = p.loadShedding;
    $('load').textContent = shed.level === 0 ? 'normal' : shed.state.replace(/_/g, ' ');
    $('load').title = shed.level === 0 ? 'not shedding' : shed.reason;
    if (shed.level > 0 && state === 'ready') {
      status.dataset.state = 'draining';
      status.textContent = 'shedding load';
    }
    const r = p.config.reloads;
    $('reloads').textContent = r.applied + ' applied, ' + r.refused + ' refused';
    $('reloads').title = r.lastError ? 'last refused: ' + r.lastError : '';
  }

  $('connections').textContent = fmtInt(s.totals.connections);
  $('connections-local').textContent = s.totals.nodes > 1 ? fmtInt(s.local.connections) + ' on this node, ' + s.totals.nodes + ' nodes' : 'on 1 node';
  $('users').textContent = fmtInt(s.totals.users);
  $('rooms').textContent = fmtInt(s.totals.rooms);
  $('rate-published').textContent = fmtRate(rate('published'));
  $('rate-delivered').textContent = fmtRate(rate('delivered'));
  $('rate-acked').textContent = fmtRate(rate('acked'));
  $('rate-retried').textContent = fmtRate(rate('retried'));
  $('expired').textContent = fmtInt(s.counters.expired);
  $('lat-deliver').textContent = latencyText(s.latency.deliver, old && old.latency.deliver);
  $('lat-ack').textContent = latencyText(s.latency.ack, old && old.latency.ack);
  $('loop').textContent = s.eventLoopLagMs.p99.toFixed(1) + ' ms';
  $('rss').textContent = fmtBytes(s.memory.rssBytes);
  // Webhooks (docs/events.md): events waiting, and the last delivery error.
  const wh = s.webhooks;
  $('wh-depth').textContent = wh ? fmtInt(wh.outboxDepth) : 'off';
  $('wh-error').textContent = !wh
    ? 'no webhookUrl set'
    : (wh.lastError ? 'last error: ' + wh.lastError.message + ' at ' + new Date(wh.lastError.at).toLocaleTimeString() : 'no delivery error') +
      ' · oldest ' + fmtDuration(wh.outboxOldestAgeSec);

  for (const k of ['published', 'delivered']) {
    const r = rate(k);
    if (Number.isFinite(r)) sparks[k].push(r);
    while (sparks[k].length > SPARK_POINTS) sparks[k].shift();
    spark('spark-' + k, sparks[k]);
  }

  fillTable(
    'nodes',
    s.nodes.map((n) => ({
      key: n.node,
      className: n.node === s.node ? 'self' : '',
      values: [[n.node], [fmtInt(n.connections), true], [fmtInt(n.users), true], [fmtInt(n.rooms), true], [fmtDuration(Math.max(0, Math.round((s.time - n.updatedAt) / 1000))) + ' ago', true]],
    })),
  );
  fillTable(
    'platforms',
    Object.entries(s.local.platforms).map(([p, n]) => ({ key: p, values: [[p], [fmtInt(n), true]] })),
  );
  fillTable(
    'disconnects',
    Object.entries(s.disconnectsByCode).map(([code, n]) => ({ key: code, values: [[code], [fmtInt(n), true]] })),
  );
  fillTable(
    'limits',
    Object.entries(s.limitRejections).map(([limit, n]) => ({ key: limit, values: [[limit], [fmtInt(n), true]] })),
  );
  fillTable(
    'ingest',
    (s.ingest || []).map((x) => ({
      key: x.kind + ':' + x.name,
      className: x.connected ? '' : 'down',
      values: [[x.kind], [x.name], [x.connected ? 'connected' : 'disconnected' + (x.lastError ? ': ' + x.lastError : '')], [fmtInt(x.consumed), true], [fmtInt(x.deadLettered), true], [fmtInt(x.redelivered), true], [x.lag === undefined ? '–' : fmtInt(x.lag), true]],
    })),
  );
  document.body.dataset.updated = String(s.time);
}

async function poll() {
  try {
    const res = await fetch('/admin/api/stats', { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) {
      window.location.assign('/admin/login');
      return;
    }
    if (!res.ok) throw new Error('HTTP ' + res.status);
    render(await res.json());
    $('error').textContent = '';
  } catch (err) {
    $('error').textContent = 'update failed: ' + err.message;
    $('status').dataset.state = 'error';
    $('status').textContent = 'unreachable';
  }
  setTimeout(poll, POLL_MS);
}

poll();

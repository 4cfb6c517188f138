/**
 * Oversized and malformed frames, beside a normal fleet: each misbehaving
 * connection gets the documented close code (or, for broken framing, is
 * dropped), and nobody else is disturbed.
 */
import { maskedFrame, mintToken, openRaw, type RawConn, rawTcpFrame } from '@herald/testkit';
import type { Rng } from '../rng.js';
import type { Scenario } from '../scenario.js';
import { standardDevices, targetsFor, uid } from '../scenario.js';
import { withTimeout } from '../wait.js';

interface Case {
  name: string;
  /** Expected close code; -1: the TCP connection is closed (broken framing). */
  expect: number[];
  open(url: string, port: number, token: string, rng: Rng): RawConn;
}

const afterOpen = (c: RawConn, f: () => void): RawConn => {
  void c.opened.then((ok) => ok && f());
  return c;
};

const CASES: Case[] = [
  { name: 'oversized text frame', expect: [1009], open: (u, _p, t, r) => { const c = openRaw(`${u}&token=${t}`); return afterOpen(c, () => c.send(JSON.stringify({ type: 'ping', pad: r.text(65536 + r.int(1, 8192)) }))); } },
  { name: 'oversized auth frame before the welcome', expect: [1009], open: (u, _p, _t, r) => { const c = openRaw(u); return afterOpen(c, () => c.send(JSON.stringify({ type: 'auth', token: r.text(16384 + r.int(1, 4096)) }))); } },
  { name: 'malformed JSON', expect: [4000], open: (u, _p, t, r) => { const c = openRaw(`${u}&token=${t}`); return afterOpen(c, () => c.send(`{${r.text(r.int(1, 200))}`)); } },
  { name: 'JSON that is not an object', expect: [4000], open: (u, _p, t, r) => { const c = openRaw(`${u}&token=${t}`); return afterOpen(c, () => c.send(r.pick(['[1,2,3]', '42', '"ack"', 'null', 'true']))); } },
  { name: 'binary frame on v1', expect: [4000], open: (u, _p, t, r) => { const c = openRaw(`${u}&token=${t}`); return afterOpen(c, () => c.send(r.bytes(r.int(1, 512)), true)); } },
  { name: 'first frame other than auth', expect: [4001], open: (u) => { const c = openRaw(u); return afterOpen(c, () => c.send(JSON.stringify({ type: 'join', room: 'lobby' }))); } },
  { name: 'bad last_seq parameter', expect: [4000], open: (u, _p, t, r) => openRaw(`${u}&token=${t}&last_seq=${r.pick(['-1', 'abc', '1.5'])}`) },
  { name: 'reserved opcode (raw TCP)', expect: [-1], open: (_u, p, _t, r) => rawTcpFrame(p, '/ws', maskedFrame(r.pick([3, 4, 5, 6, 7, 0xb, 0xc]), r.bytes(r.int(0, 100)))) },
  { name: 'unmasked client frame (raw TCP)', expect: [-1], open: (_u, p, _t, r) => rawTcpFrame(p, '/ws', Buffer.concat([Buffer.from([0x81, 10]), r.bytes(10)])) },
  { name: 'garbage framing (raw TCP)', expect: [-1], open: (_u, p, _t, r) => rawTcpFrame(p, '/ws', r.bytes(r.int(64, 2048))) },
];

export const badFrames: Scenario = {
  name: 'bad-frames',
  summary: 'oversized, malformed and broken WebSocket frames beside a normal fleet',
  async run(ctx) {
    const { world, profile: p, rng, fleet, publisher } = ctx;
    const specs = standardDevices(ctx, Math.ceil(p.devices / 2));
    for (const s of specs) fleet.add(s);
    await fleet.connectAll(30_000);
    const stream = publisher.stream(targetsFor(specs), { ratePerSec: p.publishRate, durationMs: p.phaseMs, padBytes: 64 });
    const reps = p.name === 'long' ? 10 : 2;
    const conns: { c: Case; conn: RawConn }[] = [];
    for (let i = 0; i < reps; i++) {
      for (const c of rng.shuffle(CASES)) {
        const token = mintToken(world.settings.jwtSecret, { sub: uid(ctx, `bad${i}`), tid: 't1', ttlSec: 3600 });
        // A device of its own per connection: two on one user+device would replace each other (4004).
        conns.push({ c, conn: c.open(`${world.wsUrl}?device=b${conns.length}`, world.lb.port, token, rng) });
      }
    }
    const results = await Promise.all(conns.map(({ conn }) => withTimeout('bad client closed', conn.closed, 8000).catch(() => undefined)));
    await stream;
    results.forEach((r, i) => {
      const { c, conn } = conns[i] as { c: Case; conn: RawConn };
      conn.terminate();
      if (!r) ctx.violations.push({ invariant: 'scenario', detail: `${c.name}: connection still open after 8 s` });
      else if (!c.expect.includes(r.code)) ctx.violations.push({ invariant: 'scenario', detail: `${c.name}: closed ${r.code}, expected ${c.expect.join(' or ')}` });
    });
    ctx.notes.push(`${conns.length} bad connections (${CASES.length} kinds × ${reps}), all answered as documented unless listed`);
  },
};

/**
 * The ingest invariants (docs/ingest.md, "The rules every source keeps"), as a
 * pure function over what the producers wrote, what the inboxes hold and what
 * the dead letters say — so a unit test can feed it a broken outcome and see
 * it fail (packages/stress/test/ingestInvariants.test.ts).
 */
import type { DeadLetterRecord, IngestEntry, StoredEntry } from './ingest/entries.js';
import type { Violation } from './invariants.js';
import type { PublishRecord } from './recording.js';

const MAX_LISTED = 8;
const list = (xs: readonly string[]): string => (xs.length > MAX_LISTED ? `${xs.slice(0, MAX_LISTED).join(', ')}, … (${xs.length})` : xs.join(', '));

/**
 * - every confirmed valid entry is stored exactly once for each of its target users (one seq),
 *   only in those users' inboxes, with the device it targets;
 * - poison and rolled-back (void) entries are never stored; nothing stored is foreign to the run;
 * - every confirmed poison entry is dead-lettered exactly once, with the expected reason — except
 *   that a source may show as many repeats as its nodes counted dead letters the broker neither
 *   confirmed nor refused (`unconfirmedDead`, by source), plus one per copy written by a node the
 *   scenario killed (`killedNodes`: killed between the broker's confirm and its mark); the two
 *   windows docs/ingest.md names;
 * - no valid or void entry is dead-lettered, and no dead letter is unknown.
 * Unconfirmed entries (the broker never confirmed them) may be stored or not, but at most once.
 */
export function checkIngest(
  entries: readonly IngestEntry[],
  stored: readonly StoredEntry[],
  dead: readonly DeadLetterRecord[],
  unconfirmedDead: ReadonlyMap<string, number> = new Map(),
  killedNodes: readonly string[] = [],
): Violation[] {
  // A workers node's processes are `<id>-w<i>`; killing the node kills them all.
  const byKilled = (d: DeadLetterRecord): boolean => d.node !== undefined && killedNodes.some((k) => d.node === k || d.node!.startsWith(`${k}-w`));
  const out: Violation[] = [];
  const byId = new Map(entries.map((e) => [e.id, e]));
  const byRef = new Map<string, IngestEntry>();
  for (const e of entries) if (e.ref !== undefined) byRef.set(`${e.source}:${e.ref}`, e);

  const copies = new Map<string, StoredEntry[]>(); // `${entry} ${user}` → stored copies
  const foreign: string[] = [];
  const wrongUser: string[] = [];
  const wrongDevice: string[] = [];
  const forbidden: string[] = [];
  for (const s of stored) {
    const e = s.entry === undefined ? undefined : byId.get(s.entry);
    if (!e) {
      foreign.push(`${s.user} seq ${s.seq} (${s.entry ?? 'no entry id'})`);
      continue;
    }
    if (e.fate !== 'valid') forbidden.push(`${e.id} (${e.fate === 'void' ? 'rolled back' : e.label ?? 'poison'}) as ${s.user} seq ${s.seq}`);
    if (s.tenant !== e.tenant || !e.users.includes(s.user)) wrongUser.push(`${e.id} in ${s.tenant}/${s.user} seq ${s.seq}`);
    else if (s.device !== e.device) wrongDevice.push(`${e.id} stored for device ${s.device ?? '(all)'}, targets ${e.device ?? '(all)'}`);
    const k = `${e.id} ${s.user}`;
    copies.set(k, [...(copies.get(k) ?? []), s]);
  }
  const missing: string[] = [];
  const twice: string[] = [];
  for (const e of entries) {
    if (e.fate !== 'valid') continue;
    for (const u of e.users) {
      const c = copies.get(`${e.id} ${u}`) ?? [];
      if (c.length === 0 && e.confirmed) missing.push(`${e.id}→${u}`);
      if (c.length > 1) twice.push(`${e.id}→${u} ×${c.length} (seq ${c.map((x) => x.seq).join('+')})`);
    }
  }
  if (missing.length) out.push({ invariant: 'delivery', detail: `ingest: ${missing.length} confirmed entr${missing.length === 1 ? 'y' : 'ies'} never stored: ${list(missing)}` });
  if (twice.length) out.push({ invariant: 'delivery', detail: `ingest: entries stored more than once (one entry, several seqs): ${list(twice)}` });
  if (forbidden.length) out.push({ invariant: 'delivery', detail: `ingest: entries that must never be stored were stored: ${list(forbidden)}` });
  if (foreign.length) out.push({ invariant: 'isolation', detail: `ingest: inbox messages that are no entry of this run: ${list(foreign)}` });
  if (wrongUser.length) out.push({ invariant: 'isolation', detail: `ingest: entries stored for a user they do not target: ${list(wrongUser)}` });
  if (wrongDevice.length) out.push({ invariant: 'delivery', detail: `ingest: entries stored with the wrong device target: ${list(wrongDevice)}` });

  const deadCount = new Map<IngestEntry, DeadLetterRecord[]>();
  const unknownDead: string[] = [];
  for (const d of dead) {
    const e = byRef.get(`${d.source}:${d.ref}`);
    if (!e) unknownDead.push(`${d.source} ${d.ref}: ${d.reason}`);
    else deadCount.set(e, [...(deadCount.get(e) ?? []), d]);
  }
  const notDead: string[] = [];
  const deadTwice: string[] = [];
  const excused = new Map(unconfirmedDead);
  const badReason: string[] = [];
  const wronglyDead: string[] = [];
  for (const e of entries) {
    const ds = deadCount.get(e) ?? [];
    if (e.fate !== 'poison') {
      if (ds.length) wronglyDead.push(`${e.id} (${e.fate}): ${ds[0]?.reason ?? ''}`);
      continue;
    }
    if (ds.length === 0 && e.confirmed) notDead.push(`${e.id} (${e.label ?? 'poison'})`);
    const repeats = ds.length - 1 - Math.min(ds.length - 1, ds.filter(byKilled).length);
    if (repeats > 0) {
      const allowance = excused.get(e.source) ?? 0;
      if (repeats <= allowance) excused.set(e.source, allowance - repeats);
      else deadTwice.push(`${e.id} ×${ds.length}`);
    }
    for (const d of ds) if (e.reason && !e.reason.test(d.reason)) badReason.push(`${e.id} (${e.label ?? 'poison'}): "${d.reason.slice(0, 160)}", expected ${String(e.reason)}`);
  }
  if (notDead.length) out.push({ invariant: 'scenario', detail: `ingest: poison entries never dead-lettered: ${list(notDead)}` });
  if (deadTwice.length) out.push({ invariant: 'scenario', detail: `ingest: poison entries dead-lettered more than once: ${list(deadTwice)}` });
  if (badReason.length) out.push({ invariant: 'scenario', detail: `ingest: dead letters with the wrong reason: ${list(badReason)}` });
  if (wronglyDead.length) out.push({ invariant: 'scenario', detail: `ingest: entries that are not poison were dead-lettered: ${list(wronglyDead)}` });
  if (unknownDead.length) out.push({ invariant: 'scenario', detail: `ingest: dead letters of no entry of this run: ${list(unknownDead)}` });
  return out;
}

/**
 * The stored entries as publish records, so the suite's delivery check (checkDelivery) holds the
 * devices to them: a valid entry is "answered 200" with the seq its inbox gave it; a poison or
 * rolled-back entry is "answered 400" (must never arrive).
 */
export function ingestPublishRecords(entries: readonly IngestEntry[], stored: readonly StoredEntry[], index: number): PublishRecord[] {
  const seqs = new Map<string, Record<string, number>>();
  for (const s of stored) {
    if (s.entry === undefined) continue;
    const m = seqs.get(s.entry) ?? {};
    // The first copy: a second one is the ingest check's finding, not the device's.
    if (m[s.user] === undefined || s.seq < m[s.user]!) m[s.user] = s.seq;
    seqs.set(s.entry, m);
  }
  const out: PublishRecord[] = [];
  for (const e of entries) {
    const seq = seqs.get(e.id);
    const rec: PublishRecord = { pid: e.pid, tenant: e.tenant, users: e.users, status: 0, index };
    if (e.device !== undefined) rec.device = e.device;
    if (e.fate !== 'valid') rec.status = 400;
    else if (seq && e.users.every((u) => seq[u] !== undefined)) {
      rec.status = 200;
      rec.seq = seq;
    }
    out.push(rec);
  }
  return out;
}

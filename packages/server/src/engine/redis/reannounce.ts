/**
 * Closes the window between "the node read the inbox" and "Redis routes the
 * user's channel here": a message appended in it was published to nobody.
 * Once a user channel is confirmed — new interest, or restored after a
 * reconnect (when everything published meanwhile was lost) — the user's
 * newest message is announced to this node as an `inbox` event. A
 * connection that already has it ignores it; one that missed messages sees
 * a seq beyond what it has and pulls the gap from the inbox.
 *
 * On a single Redis or Sentinel the newest messages of a confirmed batch are read by one
 * command per NEWEST_BATCH users (NEWEST_MANY), not one per user (issue 20: one command per
 * connect of a new user fewer during a connect burst). On Cluster the users' inboxes are in
 * different slots: one NEWEST per user.
 */
import type { BusEvent, InboxMessage } from '../types.js';
import type { RedisInbox } from './redisInbox.js';

/** Users per NEWEST_MANY command: a bounded script run and reply. */
const NEWEST_BATCH = 100;
/** Reads in flight at once when re-announcing after a (re)subscribe burst. */
const CONCURRENCY = 64;

export interface ReannounceDeps {
  inbox: RedisInbox;
  sharded: boolean;
  /** Whether this node still subscribes the user's channel (checked again once the read answered). */
  stillWanted(tenant: string, user: string): boolean;
  closed(): boolean;
  emit(event: BusEvent): void;
  /** A read failed (counted; the user is not re-announced). */
  failed(err: unknown): void;
}

export function reannounce(d: ReannounceDeps, users: { tenant: string; user: string }[]): void {
  if (users.length === 0) return;
  const announce = (tenant: string, user: string, message: InboxMessage | undefined): void => {
    if (message && !d.closed() && d.stillWanted(tenant, user)) d.emit({ kind: 'inbox', tenant, user, message });
  };
  const step = d.sharded ? 1 : NEWEST_BATCH;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < users.length && !d.closed()) {
      const from = next;
      next += step;
      try {
        if (d.sharded) {
          const { tenant, user } = users[from]!;
          announce(tenant, user, await d.inbox.newest(tenant, user));
        } else {
          const batch = users.slice(from, from + step);
          const messages = await d.inbox.newestMany(batch);
          batch.forEach((u, i) => announce(u.tenant, u.user, messages[i]));
        }
      } catch (err) {
        d.failed(err);
      }
    }
  };
  const workers = Math.min(CONCURRENCY, Math.ceil(users.length / step));
  for (let i = 0; i < workers; i++) void worker();
}

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
 *
 * Claimed by a connect (issue 20, single Redis and Sentinel): a connect that waited for the
 * channel reads the newest message in its own script, sent after the confirmation
 * (CONNECT_START, connectStart.ts). The users of a confirmed batch stay due until the event loop's
 * next check phase — after the connects that waited for the batch went on (they continue in
 * microtasks of the turn that confirmed it) — and only the unclaimed ones are read by NEWEST_MANY.
 */
import type { BusEvent, InboxMessage } from '../types.js';
import type { RedisKeys } from './keys.js';
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
  /** A read failed (logged; the user is not re-announced). */
  failed(err: unknown): void;
  /** Failed operations by kind (a failed read counts as `read`). */
  errors: Record<string, number>;
}

interface UserRef {
  tenant: string;
  user: string;
}

export class Reannouncer {
  /** User channels this node subscribes, with their user: what a confirmed subscription re-announces. */
  private readonly users = new Map<string, UserRef>();
  /** Confirmed and not re-announced yet: a connect may claim them until `scheduled` runs. */
  private readonly due = new Map<string, UserRef>();
  private scheduled = false;

  private readonly d: ReannounceDeps;

  constructor(d: Omit<ReannounceDeps, 'stillWanted'>, keys: RedisKeys) {
    this.d = { ...d, stillWanted: (tenant, user) => this.users.has(keys.userChannel(tenant, user)) };
  }

  track(channel: string, tenant: string, user: string): void {
    this.users.set(channel, { tenant, user });
  }

  untrack(channel: string): void {
    this.users.delete(channel);
  }

  has(channel: string): boolean {
    return this.users.has(channel);
  }

  /** Channels were confirmed: their users are re-announced in the next check phase unless claimed first. */
  confirmed(channels: string[]): void {
    for (const c of channels) {
      const u = this.users.get(c);
      if (u !== undefined) this.due.set(c, u);
    }
    if (this.due.size === 0 || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const users = [...this.due.values()];
      this.due.clear();
      reannounce(this.d, users);
    });
  }

  /**
   * A connect's script reads the user's newest message after the channel was confirmed and
   * announces it (`announce`): true when the user was due, who is then not read again.
   */
  claim(channel: string): boolean {
    return this.due.delete(channel);
  }

  /** A claimed read failed: the user is re-announced the usual way. */
  unclaimed(tenant: string, user: string): void {
    reannounce(this.d, [{ tenant, user }]);
  }

  announce(tenant: string, user: string, message: InboxMessage | undefined): void {
    announce(this.d, tenant, user, message);
  }
}

function announce(d: ReannounceDeps, tenant: string, user: string, message: InboxMessage | undefined): void {
  if (message && !d.closed() && d.stillWanted(tenant, user)) d.emit({ kind: 'inbox', tenant, user, message });
}

export function reannounce(d: ReannounceDeps, users: UserRef[]): void {
  if (users.length === 0) return;
  const step = d.sharded ? 1 : NEWEST_BATCH;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < users.length && !d.closed()) {
      const from = next;
      next += step;
      try {
        if (d.sharded) {
          const { tenant, user } = users[from]!;
          announce(d, tenant, user, await d.inbox.newest(tenant, user));
        } else {
          const batch = users.slice(from, from + step);
          const messages = await d.inbox.newestMany(batch);
          batch.forEach((u, i) => announce(d, u.tenant, u.user, messages[i]));
        }
      } catch (err) {
        d.errors.read = (d.errors.read ?? 0) + 1;
        d.failed(err);
      }
    }
  };
  const workers = Math.min(CONCURRENCY, Math.ceil(users.length / step));
  for (let i = 0; i < workers; i++) void worker();
}

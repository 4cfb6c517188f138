/**
 * Leader election among the tabs of one origin, per shared key: the Web
 * Locks API when present (the lock is held for the tab's life and released
 * by the browser when the tab goes away), else a BroadcastChannel protocol
 * (the leader announces itself every second; followers that hear nothing for
 * three seconds claim after a random pause; of two leaders the one with the
 * smaller tab id keeps the place).
 */

export interface ChannelLike {
  postMessage(msg: unknown): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  close(): void;
}

export type ChannelConstructor = new (name: string) => ChannelLike;

interface LockManagerLike {
  request(name: string, callback: () => Promise<void>): Promise<void>;
}

const HEARTBEAT_MS = 1000;
const SILENCE_MS = 3000;

/** One per key per tab: knows whether this tab leads, and tells its listener when that changes. */
export class Election {
  leader = false;
  /** Called when this tab becomes leader or stops being one. */
  onChange: (leader: boolean) => void = () => {};
  private release: (() => void) | undefined;
  private beat: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  private readonly control: ChannelLike | undefined;

  constructor(
    readonly key: string,
    readonly tab: string,
    Channel: ChannelConstructor,
    locks: LockManagerLike | undefined = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks,
  ) {
    if (locks) {
      void locks.request(key, () => {
        this.set(true);
        return new Promise<void>((resolve) => (this.release = resolve));
      });
      return;
    }
    const ch = new Channel(key + ':election');
    this.control = ch;
    ch.onmessage = (ev) => {
      const m = ev.data as { t?: string; tab?: string };
      if (m.t !== 'leader' || typeof m.tab !== 'string' || m.tab === tab) return;
      this.lastHeard = Date.now();
      if (this.leader && m.tab < tab) this.set(false);
    };
    this.lastHeard = Date.now();
    ch.postMessage({ t: 'who' });
    this.beat = setInterval(() => this.tick(), HEARTBEAT_MS);
    // First tab: nobody answers; claim after a short random pause.
    setTimeout(() => this.tick(true), 200 + Math.floor(Math.random() * 200));
  }

  private tick(first = false): void {
    if (this.leader) return this.control!.postMessage({ t: 'leader', tab: this.tab });
    if (Date.now() - this.lastHeard >= (first ? 150 : SILENCE_MS)) {
      this.set(true);
      this.control!.postMessage({ t: 'leader', tab: this.tab });
    }
  }

  private set(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.onChange(leader);
  }

  /** Gives the place up (the app closed its client, or the tab is going away). */
  resign(): void {
    clearInterval(this.beat);
    this.release?.();
    this.control?.close();
    this.set(false);
  }
}

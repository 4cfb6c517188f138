/**
 * Where the client keeps the last reliable seq it processed, so a restarted
 * app resumes where it stopped instead of at the inbox tip. Browsers default to
 * localStorage (survives reloads); Node defaults to memory (survives
 * reconnects in one process). Apps with their own database pass their own store.
 */

export interface SeqStore {
  /** The stored seq for `key`, or null when none. May be async. */
  get(key: string): number | null | Promise<number | null>;
  /** Stores `seq` under `key`. May be async; the client does not wait for it before acking. */
  set(key: string, seq: number): void | Promise<void>;
}

export function memoryStore(): SeqStore {
  const map = new Map<string, number>();
  return {
    get: (key) => map.get(key) ?? null,
    set: (key, seq) => {
      map.set(key, seq);
    },
  };
}

/** The subset of the Web Storage API the store needs. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export function webStorageStore(storage: WebStorageLike): SeqStore {
  return {
    get: (key) => {
      const raw = storage.getItem(key);
      if (raw === null) return null;
      const n = Number(raw);
      return Number.isSafeInteger(n) && n >= 0 ? n : null;
    },
    set: (key, seq) => storage.setItem(key, String(seq)),
  };
}

/** localStorage when it exists and is usable, else memory. */
export function defaultStore(): SeqStore {
  const storage = (globalThis as { localStorage?: WebStorageLike }).localStorage;
  if (storage) {
    try {
      // Touching it can throw (Safari private mode, sandboxed iframes, disabled cookies).
      const probe = '__herald_probe__';
      storage.setItem(probe, '1');
      (storage as WebStorageLike & { removeItem?: (k: string) => void }).removeItem?.(probe);
      return webStorageStore(storage);
    } catch {
      // fall through to memory
    }
  }
  return memoryStore();
}

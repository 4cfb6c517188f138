/**
 * The publish hook: the backend sees every client room publish before any
 * member does, and allows it (optionally replacing its `data`) or refuses
 * it; a refused publish reaches nobody.
 */
import { ErrorCode } from '@herald/protocol';
import { publishAnswer } from './answers.js';
import { HookError, type HookClient } from './hookClient.js';
import type { HookSubject } from './joinHook.js';

export type PublishDecision = { ok: true; replaced: boolean; data: unknown } | { ok: false; code: string; message: string };

export class PublishHook {
  constructor(private readonly client: HookClient) {}

  async check(s: HookSubject, room: string, data: unknown): Promise<PublishDecision> {
    try {
      const a = await this.client.call({ tenant: s.tenant, user: s.user, device: s.device, room, data }, publishAnswer);
      if (!a.allow) return { ok: false, code: ErrorCode.Forbidden, message: a.reason ?? `publishing to room "${room}" was refused` };
      // `"data": null` replaces too; only an absent key keeps the client's data.
      return 'data' in a ? { ok: true, replaced: true, data: a.data } : { ok: true, replaced: false, data };
    } catch (err) {
      if (!(err instanceof HookError)) throw err;
      return { ok: false, code: ErrorCode.Unavailable, message: `publish hook unavailable (${err.reason}), try again later` };
    }
  }
}

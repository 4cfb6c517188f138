/**
 * The join hook: the backend allows or refuses every room join that the
 * token's (or connect hook's) `rooms` allow-list already let through.
 */
import { ErrorCode } from '@herald/protocol';
import { joinAnswer } from './answers.js';
import { HookError, type HookClient } from './hookClient.js';

/** Who asks: tenant, user and device of the session. */
export interface HookSubject {
  tenant: string;
  user: string;
  device: string;
}

/** Undefined: allowed. Otherwise the error frame to send. */
export type HookRefusal = { code: string; message: string } | undefined;

export class JoinHook {
  constructor(private readonly client: HookClient) {}

  async check(s: HookSubject, room: string): Promise<HookRefusal> {
    try {
      const a = await this.client.call({ tenant: s.tenant, user: s.user, device: s.device, room }, joinAnswer);
      if (a.allow) return undefined;
      return { code: ErrorCode.Forbidden, message: a.reason ?? `joining room "${room}" was refused` };
    } catch (err) {
      if (!(err instanceof HookError)) throw err;
      return { code: ErrorCode.Unavailable, message: `join hook unavailable (${err.reason}), try again later` };
    }
  }
}

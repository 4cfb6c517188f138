/**
 * The RPC hook: a client `rpc` frame becomes a signed POST to the backend;
 * its `{"data"}` comes back as a reply, its `{"error":{"code","message"}}`
 * as an error frame, both with the frame's `id`.
 */
import { ErrorCode } from '@herald/protocol';
import { rpcAnswer } from './answers.js';
import { HookError, type HookClient } from './hookClient.js';
import type { HookSubject } from './joinHook.js';

export type RpcResult = { ok: true; data: unknown } | { ok: false; code: string; message: string };

export class RpcHook {
  constructor(private readonly client: HookClient) {}

  async call(s: HookSubject, method: string, data: unknown): Promise<RpcResult> {
    try {
      const a = await this.client.call({ tenant: s.tenant, user: s.user, device: s.device, method, data: data ?? null }, rpcAnswer);
      if (a.error) return { ok: false, code: a.error.code, message: a.error.message };
      return { ok: true, data: a.data ?? null };
    } catch (err) {
      if (!(err instanceof HookError)) throw err;
      return { ok: false, code: ErrorCode.Unavailable, message: `rpc hook unavailable (${err.reason}), try again later` };
    }
  }
}

/**
 * POST /admin/api/reload: re-reads the config file (as SIGHUP does) and
 * applies limits, per-tenant overrides and rate tables. Same protection as
 * the other admin actions (bearer key, or session + CSRF header). A refused
 * reload answers 400 invalid_field naming the key; the old config stays.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LiveConfig } from '../config/live.js';
import type { Logger } from '../observability/logger.js';
import { ApiError } from '../errors.js';
import { sendJson } from '../api/http.js';

export interface ConfigActionsDeps {
  live: LiveConfig;
  log: Logger;
  /** The admin actions' check (admin/userActions.ts#checkAction): throws 401/403. */
  checkAction(req: IncomingMessage): void;
}

/** Applies a reload and logs it: shared by SIGHUP and the admin action. */
export function reloadAndLog(live: LiveConfig, log: Logger, via: string): ReturnType<LiveConfig['reload']> {
  const r = live.reload();
  if (r.ok) log.info({ via, changed: r.changed, restartRequired: r.restartRequired }, 'configuration reloaded');
  else log.error({ via, error: r.error, key: r.key }, 'configuration reload refused; the old configuration stays');
  return r;
}

export class ConfigActions {
  constructor(private readonly d: ConfigActionsDeps) {}

  async reload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.d.checkAction(req);
    req.resume(); // no body is read
    const r = reloadAndLog(this.d.live, this.d.log, 'admin');
    if (!r.ok) throw new ApiError('invalid_field', `reload refused, old configuration kept: ${r.error}`, r.key ?? 'config');
    sendJson(res, 200, r);
  }
}

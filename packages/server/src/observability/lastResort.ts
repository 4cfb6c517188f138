/**
 * The process-level last resort, and the count of failures nothing else
 * handled (`herald_uncaught_errors_total{kind}`).
 *
 * Every frame handler is isolated (an unexpected exception closes that one
 * connection 1011, kind `frame_handler`); whatever still escapes to the
 * process lands here. Policy (docs/operations.md): log and count, keep
 * serving. An unhandled rejection never exits the process; neither does an
 * uncaught exception — one bad input must not drop every connection of the
 * node — but each is logged at `fatal` as a bug to fix.
 *
 * Process-wide by nature, so the counts are module state, not per node; the
 * handlers are installed once, by `herald serve` (an embedding application
 * keeps its own policy; tests install and uninstall explicitly).
 */
import type { Logger } from '../observability/logger.js';

export type InternalErrorKind = 'uncaught_exception' | 'unhandled_rejection' | 'frame_handler';

const counts = new Map<InternalErrorKind, number>();

/** Counts one failure that only a guard caught. */
export function countInternalError(kind: InternalErrorKind): void {
  counts.set(kind, (counts.get(kind) ?? 0) + 1);
}

/** The counts so far, for the metrics scrape. */
export function internalErrorCounts(): ReadonlyMap<InternalErrorKind, number> {
  return counts;
}

let installed: (() => void) | undefined;

/**
 * Installs the process handlers (once: a second call returns the first
 * uninstaller and installs nothing). Returns a function that removes them.
 */
export function installLastResort(log: Logger): () => void {
  if (installed) return installed;
  const onException = (err: unknown): void => {
    countInternalError('uncaught_exception');
    safeLog(() => log.fatal({ err }, 'uncaught exception (a bug: the process keeps serving)'));
  };
  const onRejection = (reason: unknown): void => {
    countInternalError('unhandled_rejection');
    safeLog(() => log.error({ err: reason }, 'unhandled promise rejection (a bug: the process keeps serving)'));
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  const uninstall = (): void => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
    if (installed === uninstall) installed = undefined;
  };
  installed = uninstall;
  return uninstall;
}

/** A handler that throws itself would be fatal: logging is best-effort here. */
function safeLog(write: () => void): void {
  try {
    write();
  } catch {
    // Nothing left to tell it to; the count above still records the failure.
  }
}

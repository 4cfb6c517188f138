/** An answer of Herald that was not a success, after any retries. */
export class HeraldApiError extends Error {
  constructor(
    /** HTTP status; 0 when no answer came (network error, timeout). */
    readonly status: number,
    /** Herald's error code (docs/http-api.md), or `network` / `timeout`. */
    readonly code: string,
    message: string,
    readonly field?: string,
    /** Attempts made, the first included. */
    readonly attempts = 1,
  ) {
    super(message);
    this.name = 'HeraldApiError';
  }
}

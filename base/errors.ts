// The one root of berth's error classes. Every folder's errors extend BerthError, so a caller
// anywhere can branch on `code` (stable, never the message text) and on `temporary` without
// knowing which folder threw. Messages say what a person can do; the cause stays attached.

export interface BerthErrorOptions {
  cause?: unknown;
  /** Worth retrying with backoff: network, a busy peer or manager, a transient kernel failure.
   *  false (the default): the input or configuration can never work as given. */
  temporary?: boolean;
}

export class BerthError extends Error {
  /** Worth retrying with backoff (see BerthErrorOptions.temporary). */
  readonly temporary: boolean;

  constructor(
    readonly code: string,
    message: string,
    options: BerthErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.temporary = options.temporary ?? false;
  }
}

// Error classes with stable codes. Callers branch on `code` (or on behaviour flags such as
// `temporary`), never on message text; messages say what to do.

export class BerthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown; temporary?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.temporary = options?.temporary ?? false;
  }
  /** Worth retrying with backoff (network, manager busy), as opposed to a configuration error. */
  readonly temporary: boolean;
}

export class ConfigError extends BerthError {}
export class JoinError extends BerthError {}
export class SessionError extends BerthError {}

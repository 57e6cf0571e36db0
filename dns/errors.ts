// Errors of the dns/ folder: one class, stable codes, messages that say what to fix.

export type DnsErrorCode =
  | 'E_DNS_BAD_RECORD'
  | 'E_DNS_BAD_CONFIG'
  | 'E_DNS_NO_UPSTREAM'
  | 'E_DNS_LISTEN'
  | 'E_DNS_CLOSED';

export class DnsError extends Error {
  constructor(
    readonly code: DnsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DnsError';
  }
}

// Errors of the dns/ folder: one class, stable codes, messages that say what to fix.
// Temporary (worth retrying): a listener that could not open (address busy, namespace going
// away) and a server closed under the caller (shutting down). Bad records or config are not.
import { BerthError } from '../base/index.js';

export type DnsErrorCode =
  | 'E_DNS_BAD_RECORD'
  | 'E_DNS_BAD_CONFIG'
  | 'E_DNS_NO_UPSTREAM'
  | 'E_DNS_LISTEN'
  | 'E_DNS_CLOSED'
  | 'E_DNS_BAD_NAME'
  | 'E_DNS_BAD_REPLY'
  | 'E_DNS_PROBE'
  | 'E_DNS_PROBE_TIMEOUT';

export class DnsError extends BerthError {
  declare readonly code: DnsErrorCode;
  constructor(code: DnsErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, { cause: options?.cause, temporary: code === 'E_DNS_LISTEN' || code === 'E_DNS_CLOSED' });
  }
}

// The resolv.conf every task sees: the embedded DNS server at 127.0.0.11 answers service and
// task names and forwards the rest (to the spec's nameservers, else the host's). `ndots:0`
// unless the spec sets ndots, as Docker's worker writes it.
import { EMBEDDED_DNS_ADDRESS } from '../../../base/index.js';

const DEFAULT_OPTIONS = ['ndots:0'];

export interface ResolvConfInput {
  search: readonly string[];
  options: readonly string[];
}

export function renderResolvConf(dns: ResolvConfInput | undefined): string {
  const search = dns?.search ?? [];
  const options = [...(dns?.options ?? [])];
  if (!options.some((o) => o.startsWith('ndots:'))) options.unshift(...DEFAULT_OPTIONS);
  const lines = [`# Written by berth: the embedded DNS server answers at ${EMBEDDED_DNS_ADDRESS}.`];
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  lines.push(`nameserver ${EMBEDDED_DNS_ADDRESS}`);
  lines.push(`options ${options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

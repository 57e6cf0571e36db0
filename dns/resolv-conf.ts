// Which resolvers berth forwards to: the host's, from resolv.conf. A loopback stub (systemd-
// resolved's 127.0.0.53, a local dnsmasq) is replaced by the upstreams behind it when the stub
// publishes them, so task lookups do not queue behind the host's own cache and keep working
// when the stub is restarted. When nothing is published the stub itself is kept: berth forwards
// from agentd's own namespace, where the host's loopback is reachable (Docker, forwarding from
// the container's namespace, has to fall back to 8.8.8.8 there; berth never invents resolvers).
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { DnsError } from './errors.js';

const HOST_RESOLV_CONF = '/etc/resolv.conf';
/** systemd-resolved writes the upstreams it uses here (not the 127.0.0.53 stub). */
const STUB_UPSTREAMS_FILES = ['/run/systemd/resolve/resolv.conf'] as const;
const DNS_PORT = 53;

export interface Upstream {
  /** IPv4 or IPv6 literal; a link-local IPv6 may carry a zone (`fe80::1%eth0`). */
  address: string;
  port: number;
}

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** Parses resolv.conf(5) text; unknown lines are ignored as libc does. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...args] = line.split(/\s+/);
    if (key === 'nameserver' && args[0] !== undefined && isIP(args[0].split('%')[0] ?? '') !== 0) out.nameservers.push(args[0]);
    else if (key === 'search' || key === 'domain') out.search = args;
    else if (key === 'options') out.options.push(...args);
  }
  return out;
}

export function isLoopback(address: string): boolean {
  const a = address.split('%')[0] ?? '';
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.')) || a.toLowerCase().startsWith('::ffff:127.');
}

/**
 * The upstreams for a host whose resolv.conf is `host`, given the stub's published upstream
 * files (already read; undefined where absent). Pure, for tests.
 */
export function chooseUpstreams(host: ResolvConf, stubFiles: ReadonlyArray<ResolvConf | undefined>): { upstreams: Upstream[]; source: 'resolv.conf' | 'stub-upstreams' } {
  const nonLoopback = host.nameservers.filter((n) => !isLoopback(n));
  if (host.nameservers.length > 0 && nonLoopback.length === host.nameservers.length) {
    return { upstreams: host.nameservers.map((address) => ({ address, port: DNS_PORT })), source: 'resolv.conf' };
  }
  for (const f of stubFiles) {
    const behind = (f?.nameservers ?? []).filter((n) => !isLoopback(n));
    if (behind.length > 0) return { upstreams: behind.map((address) => ({ address, port: DNS_PORT })), source: 'stub-upstreams' };
  }
  return { upstreams: host.nameservers.map((address) => ({ address, port: DNS_PORT })), source: 'resolv.conf' };
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads the host's resolvers; throws E_DNS_NO_UPSTREAM when there are none. */
export async function hostUpstreams(
  resolvConfPath: string = HOST_RESOLV_CONF,
  stubFiles: readonly string[] = STUB_UPSTREAMS_FILES,
): Promise<Upstream[]> {
  const text = await readOptional(resolvConfPath);
  if (text === undefined) {
    throw new DnsError('E_DNS_NO_UPSTREAM', `cannot read ${resolvConfPath}: configure the host's resolvers or give berth upstreams explicitly (dns.upstreams)`);
  }
  const stubs = await Promise.all(stubFiles.map(async (p) => {
    const t = await readOptional(p);
    return t === undefined ? undefined : parseResolvConf(t);
  }));
  const { upstreams } = chooseUpstreams(parseResolvConf(text), stubs);
  if (upstreams.length === 0) {
    throw new DnsError('E_DNS_NO_UPSTREAM', `${resolvConfPath} lists no nameserver: external names cannot be forwarded; add one or give berth upstreams explicitly (dns.upstreams)`);
  }
  return upstreams;
}

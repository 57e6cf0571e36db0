// The pure core of berth's host rules: validation of published ports and sandbox redirects, and
// the nftables scripts that carry them. Docker's equivalents (SERVICE-NETWORKING-FACTS §2, §3):
// nat DOCKER-INGRESS (`-m addrtype --dst-type LOCAL`, DNAT to ingress-sbox's gwbridge address,
// port unchanged), the bridge driver's DNAT for mode=host ports to the container's gwbridge
// address, `-s <gwbridge subnet> ! -o docker_gwbridge -j MASQUERADE`, ICC off
// (`-i docker_gwbridge -o docker_gwbridge -j DROP`), the localhost MASQUERADE with
// route_localnet, and inside each ingress task the redirector (published → target port).
//
// Each script replaces one table `ip berth` atomically: `table ip berth {}` makes the delete
// that follows valid whether or not the table exists, and `nft -f -` applies all or nothing.
import { NetdValidationError } from '../errors.js';
import { formatIpv4, parseCidr, parseIpv4 } from '../ipv4.js';
import { byCodeUnit } from '../../base/index.js';

export const TABLE = 'berth';
export const DEFAULT_BRIDGE_NAME = 'berth_gwbridge';
export const DEFAULT_SUBNET = '172.31.0.0/16';
/** Docker's nat chains sit at the iptables nat priorities; nft 1.0.6 rejects `dstnat` on output. */
const DSTNAT_PRIORITY = -100;
const SRCNAT_PRIORITY = 100;
const FILTER_PRIORITY = 0;
const MIN_PORT = 1;
const MAX_PORT = 65_535;
const IFNAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;

export type Protocol = 'tcp' | 'udp';
const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'];

export type PublishedPort =
  | { protocol: Protocol; port: number; mode: 'ingress' }
  | {
      protocol: Protocol;
      port: number;
      mode: 'host';
      /** The task's address on the gateway bridge (no prefix length). */
      address: string;
      targetPort: number;
      /** The task id: two owners cannot publish the same port. */
      owner: string;
    };

export interface SandboxRedirect {
  /** The task's address on the ingress network (no prefix length). */
  address: string;
  protocol: Protocol;
  /** The published port. */
  port: number;
  /** The container's port. */
  targetPort: number;
}

/** Everything the host table is rendered from. */
export interface HostRulesState {
  bridgeName: string;
  /** The gateway bridge's subnet (CIDR). */
  subnet: string;
  /** Where ingress-mode ports go (the ingress namespace's gateway-bridge address); none: not DNAT-ed yet. */
  ingressAddress: string | undefined;
  ports: readonly PublishedPort[];
}

function isPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= MIN_PORT && p <= MAX_PORT;
}

function describePort(p: { protocol?: unknown; port?: unknown }): string {
  return `${String(p.protocol)} port ${JSON.stringify(p.port)}`;
}

function checkProtoPort(p: { protocol?: unknown; port?: unknown }, what: string): void {
  if (!PROTOCOLS.includes(p.protocol as Protocol)) {
    throw new NetdValidationError('E_INVALID_PORT', `${what} ${describePort(p)}: protocol must be "tcp" or "udp"`);
  }
  if (!isPort(p.port)) {
    throw new NetdValidationError('E_INVALID_PORT', `${what} ${describePort(p)}: the port must be an integer in ${MIN_PORT}..${MAX_PORT}`);
  }
}

export function checkBridgeName(name: string): void {
  if (typeof name !== 'string' || !IFNAME_PATTERN.test(name)) {
    throw new NetdValidationError('E_INVALID_OPTION', `bridgeName ${JSON.stringify(name)} must be 1..15 letters, digits, "_", "." or "-"`);
  }
}

/** The subnet in network form (host bits cleared), as nft wants it. */
export function normalizeSubnet(subnet: string): string {
  const c = parseCidr(subnet, 'gateway subnet');
  return `${formatIpv4(c.network)}/${c.prefixLen}`;
}

export function checkAddress(address: unknown, what: string): string {
  if (typeof address !== 'string' || parseIpv4(address) === undefined) {
    throw new NetdValidationError('E_INVALID_ADDRESS', `${what} ${JSON.stringify(address)} must be an IPv4 address`);
  }
  return address;
}

function portKey(p: { protocol: Protocol; port: number }): string {
  return `${p.protocol}/${p.port}`;
}

function useOf(p: PublishedPort): string {
  return p.mode === 'ingress' ? 'in ingress mode' : `in host mode by task ${p.owner} (to ${p.address}:${p.targetPort})`;
}

function samePublication(a: PublishedPort, b: PublishedPort): boolean {
  if (a.mode === 'ingress' || b.mode === 'ingress') return a.mode === b.mode;
  return a.owner === b.owner && a.address === b.address && a.targetPort === b.targetPort;
}

/**
 * Checks every port and that no protocol/port is published for two different things; returns
 * the list without repeats, sorted. Throws NetdValidationError naming the port.
 */
export function validatePublished(ports: readonly PublishedPort[]): PublishedPort[] {
  if (!Array.isArray(ports)) throw new NetdValidationError('E_INVALID_PORT', 'published ports must be an array');
  const byKey = new Map<string, PublishedPort>();
  for (const p of ports) {
    if (typeof p !== 'object' || p === null) throw new NetdValidationError('E_INVALID_PORT', `published port ${JSON.stringify(p)} must be an object`);
    checkProtoPort(p, 'published');
    let clean: PublishedPort;
    if (p.mode === 'ingress') {
      clean = { protocol: p.protocol, port: p.port, mode: 'ingress' };
    } else if (p.mode === 'host') {
      if (!isPort(p.targetPort)) {
        throw new NetdValidationError('E_INVALID_PORT', `published ${describePort(p)}: target port ${JSON.stringify(p.targetPort)} must be an integer in ${MIN_PORT}..${MAX_PORT}`);
      }
      checkAddress(p.address, `published ${describePort(p)}: task address`);
      if (typeof p.owner !== 'string' || p.owner === '') {
        throw new NetdValidationError('E_INVALID_PORT', `published ${describePort(p)}: host mode needs the owning task's id`);
      }
      clean = { protocol: p.protocol, port: p.port, mode: 'host', address: p.address, targetPort: p.targetPort, owner: p.owner };
    } else {
      throw new NetdValidationError('E_INVALID_PORT', `published ${describePort(p)}: mode must be "ingress" or "host", got ${JSON.stringify((p as { mode?: unknown }).mode)}`);
    }
    const key = portKey(clean);
    const seen = byKey.get(key);
    if (seen && !samePublication(seen, clean)) {
      throw new NetdValidationError('E_PORT_CONFLICT', `${clean.protocol} port ${clean.port} is published twice: ${useOf(seen)} and ${useOf(clean)}`);
    }
    byKey.set(key, clean);
  }
  return [...byKey.values()].sort((a, b) => byCodeUnit(a.protocol, b.protocol) || a.port - b.port);
}

/** Same rules for the redirects of one sandbox; returns them without repeats, sorted. */
export function validateRedirects(redirects: readonly SandboxRedirect[]): SandboxRedirect[] {
  if (!Array.isArray(redirects)) throw new NetdValidationError('E_INVALID_PORT', 'redirects must be an array');
  const byKey = new Map<string, SandboxRedirect>();
  for (const r of redirects) {
    if (typeof r !== 'object' || r === null) throw new NetdValidationError('E_INVALID_PORT', `redirect ${JSON.stringify(r)} must be an object`);
    checkProtoPort(r, 'redirected');
    if (!isPort(r.targetPort)) {
      throw new NetdValidationError('E_INVALID_PORT', `redirected ${describePort(r)}: target port ${JSON.stringify(r.targetPort)} must be an integer in ${MIN_PORT}..${MAX_PORT}`);
    }
    checkAddress(r.address, `redirected ${describePort(r)}: address`);
    const clean: SandboxRedirect = { address: r.address, protocol: r.protocol, port: r.port, targetPort: r.targetPort };
    const key = `${clean.address} ${clean.protocol}/${clean.port}`;
    const seen = byKey.get(key);
    if (seen && seen.targetPort !== clean.targetPort) {
      throw new NetdValidationError('E_PORT_CONFLICT', `${clean.protocol} port ${clean.port} on ${clean.address} is redirected twice: to ${seen.targetPort} and to ${clean.targetPort}`);
    }
    byKey.set(key, clean);
  }
  return [...byKey.values()].sort((a, b) => byCodeUnit(a.address, b.address) || byCodeUnit(a.protocol, b.protocol) || a.port - b.port);
}

/** Removes the table (absent or not). */
export function deleteTableScript(): string {
  return `table ip ${TABLE} {}\ndelete table ip ${TABLE}\n`;
}

/** The DNAT rules of the `published` chain: a set per protocol for ingress, a map per protocol for host mode. */
export function publishedRules(ports: readonly PublishedPort[], ingressAddress: string | undefined): string[] {
  const rules: string[] = [];
  for (const proto of PROTOCOLS) {
    const ingress = ports.filter((p) => p.protocol === proto && p.mode === 'ingress').map((p) => p.port);
    if (ingress.length > 0 && ingressAddress !== undefined) {
      rules.push(`${proto} dport { ${ingress.join(', ')} } dnat to ${ingressAddress}`);
    }
    const host = ports.flatMap((p) => (p.protocol === proto && p.mode === 'host' ? [`${p.port} : ${p.address} . ${p.targetPort}`] : []));
    if (host.length > 0) rules.push(`meta l4proto ${proto} dnat to ${proto} dport map { ${host.join(', ')} }`);
  }
  return rules;
}

/** The whole host table: replaces `table ip berth` in one transaction. */
export function hostRulesScript(s: HostRulesState): string {
  checkBridgeName(s.bridgeName);
  const subnet = normalizeSubnet(s.subnet);
  if (s.ingressAddress !== undefined) checkAddress(s.ingressAddress, 'ingress address');
  const br = `"${s.bridgeName}"`;
  const chain = (name: string, hook: string | undefined, rules: readonly string[]) =>
    [`  chain ${name} {`, ...(hook ? [`    ${hook}`] : []), ...rules.map((r) => `    ${r}`), '  }'].join('\n');
  const body = [
    chain('published', undefined, publishedRules(s.ports, s.ingressAddress)),
    chain('prerouting', `type nat hook prerouting priority ${DSTNAT_PRIORITY}; policy accept;`, ['fib daddr type local jump published']),
    chain('output', `type nat hook output priority ${DSTNAT_PRIORITY}; policy accept;`, ['fib daddr type local jump published']),
    chain('postrouting', `type nat hook postrouting priority ${SRCNAT_PRIORITY}; policy accept;`, [
      `ip saddr ${subnet} oifname != ${br} masquerade`,
      // 127.0.0.1 (or any local address) → a published port leaves by the bridge: the task
      // must answer the bridge's address, not a loopback one.
      `oifname ${br} fib saddr type local masquerade`,
    ]),
    chain('forward', `type filter hook forward priority ${FILTER_PRIORITY}; policy accept;`, [
      `iifname ${br} oifname ${br} drop`,
      `iifname ${br} accept`,
      `oifname ${br} ct state established,related accept`,
      `oifname ${br} ct status dnat accept`,
    ]),
  ];
  return `${deleteTableScript()}table ip ${TABLE} {\n${body.join('\n')}\n}\n`;
}

/** The redirector of one sandbox; an empty list removes the table. */
export function sandboxRedirectScript(redirects: readonly SandboxRedirect[]): string {
  if (redirects.length === 0) return deleteTableScript();
  const groups = new Map<string, SandboxRedirect[]>();
  for (const r of redirects) {
    const key = `${r.address} ${r.protocol}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rules = [...groups.values()].map((g) => {
    const { address, protocol } = g[0]!;
    return `    ip daddr ${address} meta l4proto ${protocol} redirect to ${protocol} dport map { ${g.map((r) => `${r.port} : ${r.targetPort}`).join(', ')} }`;
  });
  return `${deleteTableScript()}table ip ${TABLE} {\n  chain prerouting {\n    type nat hook prerouting priority ${DSTNAT_PRIORITY}; policy accept;\n${rules.join('\n')}\n  }\n}\n`;
}

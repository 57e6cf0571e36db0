// agentctl doctor's judgements: each check turns facts gathered about this host (probes.ts)
// into pass / warn / fail with the fix in one line, or skip with what could not be checked and
// why. Pure: no I/O, the clock passed in. Unit-tested with facts as this machine and others
// have them.

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** One line: what to do (absent on pass and skip). */
  fix?: string;
  /** Machine-readable facts behind the verdict (agentctl doctor --json). */
  data?: Record<string, unknown>;
}

const pass = (id: string, title: string, detail: string, data?: Record<string, unknown>): CheckResult => ({ id, title, status: 'pass', detail, ...(data ? { data } : {}) });
const warn = (id: string, title: string, detail: string, fix: string, data?: Record<string, unknown>): CheckResult => ({ id, title, status: 'warn', detail, fix, ...(data ? { data } : {}) });
const fail = (id: string, title: string, detail: string, fix: string, data?: Record<string, unknown>): CheckResult => ({ id, title, status: 'fail', detail, fix, ...(data ? { data } : {}) });
const skip = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'skip', detail });

/** agentd's exit-code-worthy verdict: any fail. */
export function doctorFailed(results: readonly CheckResult[]): boolean {
  return results.some((r) => r.status === 'fail');
}

export function checkRoot(uid: number): CheckResult {
  return uid === 0
    ? pass('root', 'root', 'running as root')
    : fail('root', 'root', `running as uid ${uid}: namespaces, netlink, the control socket and most checks need root`, 'run as root: sudo agentctl doctor');
}

export interface AgentdSeen {
  running: boolean;
  pid?: number;
  state?: string;
  error?: string;
  socket: string;
}

export function checkAgentd(a: AgentdSeen): CheckResult {
  if (a.running) return pass('agentd', 'agentd', `running (pid ${a.pid ?? '?'}), ${a.state ?? 'state unknown'}`, { pid: a.pid, state: a.state });
  return warn('agentd', 'agentd', `${a.error ?? `agentd is not running (no control socket at ${a.socket})`}: checks that need it are skipped`, 'start it: systemctl start agentd (journalctl -u agentd says why it stopped)');
}

export type DockerSeen = { ok: true; host: string; version: string; apiVersion: string } | { ok: false; host: string; error: string };

export function checkDocker(d: DockerSeen): CheckResult {
  if (d.ok) return pass('docker', 'Docker Engine', `Docker ${d.version} (API ${d.apiVersion}) answers at ${d.host}`, { host: d.host, version: d.version, apiVersion: d.apiVersion });
  return fail('docker', 'Docker Engine', `no answer at ${d.host}: ${d.error}`, 'start the engine (systemctl start docker), or point agentd at it with --docker-host');
}

export function checkPauseImage(image: string, present: boolean | undefined): CheckResult {
  if (present === undefined) return skip('pause-image', 'sandbox image', `${image}: not checked, the Docker Engine does not answer`);
  return present
    ? pass('pause-image', 'sandbox image', `${image} present`)
    : fail('pause-image', 'sandbox image', `${image} missing: every task on an overlay network (and, with --networkless-tasks gateway, the default, every task without networks) fails to start`, `import it: scripts/import-images.sh <DOCKER_HOST> (or restart agentd, which imports it when installed from the package)`);
}

export function checkNativeAddon(error: string | undefined): CheckResult {
  return error === undefined
    ? pass('native-addon', 'native addon', 'loads')
    : fail('native-addon', 'native addon', error, 'rebuild it for this Node: npm run build:native (or reinstall the package)');
}

export interface VxlanSeen {
  /** /sys/module/vxlan exists: loaded or built in. */
  loaded: boolean;
  /** `modprobe -n vxlan` found it (undefined: not asked, as it was loaded). */
  loadable: boolean | undefined;
}

export function checkVxlan(v: VxlanSeen): CheckResult {
  if (v.loaded) return pass('vxlan', 'kernel: VXLAN', 'vxlan is loaded or built in');
  if (v.loadable) return pass('vxlan', 'kernel: VXLAN', 'vxlan module available (loaded with the first overlay network)');
  return fail('vxlan', 'kernel: VXLAN', 'no vxlan module: overlay networks cannot be created', 'install a kernel with CONFIG_VXLAN (Debian: linux-image-amd64), or modprobe vxlan');
}

export interface VipSeen {
  ipvs: boolean;
  nftables: boolean;
  nftablesError: string | undefined;
  /** What auto picks on this kernel. */
  auto: string;
  /** agentd's --vip-backend (auto when unknown). */
  configured: string;
  /** The backend the running agentd uses (undefined: agentd not running or its data plane off). */
  inUse: string | undefined;
}

export function checkVipBackend(v: VipSeen): CheckResult {
  const id = 'vip-backend';
  const title = 'kernel: VIP backend';
  const data = { ipvs: v.ipvs, nftables: v.nftables, auto: v.auto, configured: v.configured, inUse: v.inUse ?? null };
  const have = `IPVS ${v.ipvs ? 'present' : 'absent'}, nftables ${v.nftables ? 'usable' : `unusable (${v.nftablesError ?? 'nft failed'})`}`;
  const use = v.inUse ? `agentd uses ${v.inUse}` : `auto would pick ${v.auto}`;
  if (v.configured === 'ipvs' && !v.ipvs) return fail(id, title, `${have}; --vip-backend ipvs but this kernel has no IPVS`, 'modprobe ip_vs, or run agentd with --vip-backend auto (nftables does the same job)', data);
  if ((v.configured === 'nftables' || (v.configured === 'auto' && !v.ipvs)) && !v.nftables) return fail(id, title, `${have}: no VIP backend can work`, 'apt-get install nftables (and a kernel with nf_tables nat, numgen), or modprobe ip_vs', data);
  return pass(id, title, `${have}; ${use}`, data);
}

/** The variant `iptables --version` names: "iptables v1.8.9 (nf_tables)" / "(legacy)". */
export function parseIptablesVariant(versionOutput: string): 'nf_tables' | 'legacy' | undefined {
  const m = /\((nf_tables|legacy)\)/.exec(versionOutput);
  return m ? (m[1] as 'nf_tables' | 'legacy') : undefined;
}

export function checkIptables(versionOutput: string | undefined): CheckResult {
  if (versionOutput === undefined) return warn('iptables', 'iptables variant', 'iptables not found: berth adds its FORWARD chain only where iptables has a DROP policy (as Docker sets it)', 'apt-get install iptables (Docker needs it too)');
  const variant = parseIptablesVariant(versionOutput);
  const version = /v[\d.]+/.exec(versionOutput)?.[0] ?? versionOutput.trim();
  if (!variant) return warn('iptables', 'iptables variant', `${version}: variant unknown`, 'use iptables 1.8+ (update-alternatives --display iptables)', { version });
  return pass('iptables', 'iptables variant', `${version} (${variant}); Docker and berth use the same binary`, { version, variant });
}

export interface MtuSeen {
  advertiseAddress: string | undefined;
  /** Where the address came from (agentd, --advertise-addr, the route toward a manager). */
  source: string;
  iface: string | undefined;
  mtu: number | undefined;
}

/** VXLAN's overhead: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
/** Below this an overlay cannot carry IPv6's minimum MTU, and small MTUs fragment everything. */
const MIN_OVERLAY_MTU = 1280;

export function checkMtu(m: MtuSeen): CheckResult {
  const id = 'mtu';
  const title = 'advertise interface MTU';
  if (!m.advertiseAddress) return skip(id, title, `not checked: no advertise address known (${m.source}); pass --advertise-addr`);
  if (!m.iface || m.mtu === undefined) return fail(id, title, `${m.advertiseAddress} (${m.source}) is on no interface of this host`, 'set --advertise-addr to an address of this host', { advertiseAddress: m.advertiseAddress });
  const overlay = m.mtu - VXLAN_OVERHEAD;
  const data = { advertiseAddress: m.advertiseAddress, iface: m.iface, mtu: m.mtu, overlayMtu: overlay };
  if (overlay < MIN_OVERLAY_MTU) return warn(id, title, `${m.iface} (${m.advertiseAddress}) mtu ${m.mtu}: overlays get ${overlay}`, `raise ${m.iface}'s MTU to at least ${MIN_OVERLAY_MTU + VXLAN_OVERHEAD}`, data);
  return pass(id, title, `${m.iface} (${m.advertiseAddress}) mtu ${m.mtu}: overlays get ${overlay}`, data);
}

export interface ManagerReach {
  manager: string;
  ok: boolean;
  error?: string;
  ms?: number;
}

export function checkManagers(r: readonly ManagerReach[], source: string): CheckResult {
  const id = 'port-2377';
  const title = 'managers (2377/tcp)';
  if (r.length === 0) return skip(id, title, `not checked: no manager address known (${source}); pass --manager`);
  const bad = r.filter((x) => !x.ok);
  const detail = r.map((x) => (x.ok ? `${x.manager} reachable (${x.ms ?? '?'} ms)` : `${x.manager}: ${x.error ?? 'unreachable'}`)).join('; ');
  if (bad.length === 0) return pass(id, title, detail, { managers: r });
  if (bad.length < r.length) return warn(id, title, detail, `open TCP ${bad.map((x) => x.manager).join(', ')} from this host (the others answer)`, { managers: r });
  return fail(id, title, detail, 'open TCP to the managers\' port 2377 from this host (firewall, security group), or fix --manager', { managers: r });
}

/** One listening socket, as `ss -H -lnpu` / `-lnpt` prints it. */
export interface Listener {
  proto: 'tcp' | 'udp';
  address: string;
  port: number;
  /** Processes holding it; empty for a kernel socket (a VXLAN device's UDP port). */
  holders: Array<{ command: string; pid: number }>;
}

/** Parses `ss -H -ln[tu]p` output (Netid column included: run with -t and -u together). */
export function parseSsListeners(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const proto = cols[0];
    if (proto !== 'tcp' && proto !== 'udp') continue;
    const local = cols[4]!;
    const colon = local.lastIndexOf(':');
    const port = Number(local.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port)) continue;
    const holders = [...line.matchAll(/\("([^"]*)",pid=(\d+)/g)].map((m) => ({ command: m[1]!, pid: Number(m[2]) }));
    out.push({ proto, address: local.slice(0, colon).replace(/^\[|\]$/g, ''), port, holders });
  }
  return out;
}

export interface PortSeen {
  port: number;
  proto: 'tcp' | 'udp';
  /** What a bind on the wildcard address said: free, or in use. */
  bind: 'free' | 'in-use' | 'error';
  bindError?: string;
  /** Sockets listening on the port (from ss). */
  listeners: readonly Listener[];
  agentdPid: number | undefined;
  /** The running agentd has overlay networks (their VXLAN devices hold 4789/udp in the kernel). */
  agentdOverlays: boolean;
}

const PORT_ROLE: Record<string, string> = { 'tcp/7946': 'gossip (memberlist streams)', 'udp/7946': 'gossip (memberlist packets)', 'udp/4789': 'VXLAN data' };

export function checkPort(p: PortSeen): CheckResult {
  const key = `${p.proto}/${p.port}`;
  const id = `port-${p.port}-${p.proto}`;
  const title = `${p.port}/${p.proto} ${PORT_ROLE[key] ?? ''}`.trim();
  const holders = p.listeners.flatMap((l) => l.holders);
  const data = { port: p.port, proto: p.proto, bind: p.bind, holders };
  if (p.bind === 'free') return pass(id, title, 'free', data);
  if (p.bind === 'error') return warn(id, title, `could not test: ${p.bindError ?? 'bind failed'}`, 'run as root', data);
  if (holders.length > 0 && p.agentdPid !== undefined && holders.every((h) => h.pid === p.agentdPid)) return pass(id, title, `held by agentd (pid ${p.agentdPid})`, data);
  if (holders.length === 0) {
    // No process: a kernel socket. On 4789/udp that is a VXLAN device's.
    if (p.proto === 'udp' && p.port === 4789 && p.agentdOverlays) return pass(id, title, "held by the kernel's VXLAN sockets of berth's overlays", data);
    if (p.proto === 'udp' && p.port === 4789) {
      return warn(id, title, 'held by a VXLAN device of no running agentd (Docker overlay networks on this host, or berth\'s left while agentd is stopped)', "leave it if agentd is merely stopped; otherwise remove the other overlay (ip -d link show type vxlan)", data);
    }
    return fail(id, title, 'in use by a socket with no process (a kernel socket)', `find it: ss -lnp${p.proto === 'tcp' ? 't' : 'u'} 'sport = :${p.port}'`, data);
  }
  const who = holders.map((h) => `${h.command} (pid ${h.pid})`).join(', ');
  return fail(id, title, `held by ${who}`, `stop ${who}: berth needs ${key} for ${PORT_ROLE[key] ?? 'the cluster'} (a Docker swarm node on this host holds it too)`, data);
}

export interface SkewSeen {
  skewMs: number;
  samples: number;
  source: string;
}

/** Within the estimate's own error (the dispatcher's delivery delay). */
const SKEW_PASS_MS = 2_000;
/** SwarmKit backdates node certificates by 1 h; far below that, logs and task times mislead. */
const SKEW_FAIL_MS = 5 * 60_000;

export function checkClockSkew(s: SkewSeen | undefined, agentdRunning: boolean): CheckResult {
  const id = 'clock-skew';
  const title = 'clock skew with the manager';
  if (!agentdRunning) return skip(id, title, 'not checked: needs a running agentd (it measures from the session)');
  if (!s) return skip(id, title, 'not measured yet: agentd samples it when the manager assigns a new task to this node');
  const secs = (s.skewMs / 1000).toFixed(1);
  const detail = `this host is ${s.skewMs >= 0 ? `${secs} s ahead of` : `${(-s.skewMs / 1000).toFixed(1)} s behind`} the manager (at most; ${s.samples} sample${s.samples === 1 ? '' : 's'})`;
  const data = { skewMs: s.skewMs, samples: s.samples, source: s.source };
  if (Math.abs(s.skewMs) <= SKEW_PASS_MS) return pass(id, title, detail, data);
  const fix = 'synchronise the clocks of every node: timedatectl set-ntp true (or chrony/ntpd)';
  return Math.abs(s.skewMs) > SKEW_FAIL_MS ? fail(id, title, detail, fix, data) : warn(id, title, detail, fix, data);
}

/** Warn when less than this part of the lifetime is left: agentd renews at 50–80%. */
const CERT_WARN_FRACTION = 0.1;

export function checkCertificate(c: { notBefore: string; notAfter: string; source: string } | undefined, nowMs: number, why: string): CheckResult {
  const id = 'certificate';
  const title = 'node certificate';
  if (!c) return skip(id, title, `not checked: ${why}`);
  const nb = Date.parse(c.notBefore);
  const na = Date.parse(c.notAfter);
  const days = (na - nowMs) / 86_400_000;
  const data = { notBefore: c.notBefore, notAfter: c.notAfter, source: c.source };
  if (na <= nowMs) return fail(id, title, `expired ${c.notAfter} (${c.source})`, 'rejoin: stop agentd, move the state dir\'s certificates/ aside, start agentd with a fresh --join-token', data);
  if (nb > nowMs) return fail(id, title, `not valid before ${c.notBefore}: this host's clock is behind the manager's`, 'synchronise the clock: timedatectl set-ntp true', data);
  const detail = `expires ${c.notAfter} (in ${days.toFixed(1)} days; ${c.source})`;
  if ((na - nowMs) / (na - nb) < CERT_WARN_FRACTION) return warn(id, title, detail, 'overdue for renewal: agentd renews it while connected; check agentctl status and its log for "certificate renewal failed"', data);
  return pass(id, title, detail, data);
}

// agentctl doctor: looks at this host as agentd needs it and judges each part (checks.ts).
// Works with agentd stopped: what only a running agentd knows (its pid and ports, the clock
// skew it measured, the VIP backend in use) is then skipped and says so; the rest comes from
// the same configuration agentd reads (flags, BERTH_* environment, the config file, the state dir).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { controlRequest } from '../control.js';
import { ControlRequestError } from '../errors.js';
import { dockerClient } from '../exec/docker/executor.js';
import { loadIdentity } from '../ca/identity.js';
import { knownManagers } from '../agent.js';
import { localAddressToward, splitHostPort } from '../advertise.js';
import type { AgentConfig } from '../config.js';
import { loadNativeAddon } from '../../native/index.js';
import { probeVipSupport } from '../../netd/index.js';
import type { AgentStatus } from '../agent.js';
import type { AgentdFacts } from './facts.js';
import {
  checkAgentd,
  checkCertificate,
  checkClockSkew,
  checkDocker,
  checkIptables,
  checkManagers,
  checkMtu,
  checkNativeAddon,
  checkPauseImage,
  checkPort,
  checkRoot,
  checkVipBackend,
  checkVxlan,
  parseSsListeners,
  type CheckResult,
  type DockerSeen,
  type Listener,
  type ManagerReach,
} from './checks.js';

export * from './checks.js';
export type { AgentdFacts } from './facts.js';
export { agentdFacts } from './facts.js';

export const PAUSE_IMAGE = 'berth/pause:local';
const CONNECT_TIMEOUT_MS = 3_000;
const COMMAND_TIMEOUT_MS = 5_000;
const GOSSIP_PORT = 7946;
const VXLAN_PORT = 4789;

export interface DoctorOptions {
  socket: string;
  /** agentd's configuration as flags, environment and config file give it. */
  config: AgentConfig;
}

function runCommand(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', (err) => resolve({ code: null, stdout, stderr: err.message }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function dockerSeen(host: string): Promise<{ seen: DockerSeen; pause: boolean | undefined }> {
  const docker = dockerClient(host);
  try {
    const v = await docker.version();
    const pause = await docker
      .getImage(PAUSE_IMAGE)
      .inspect()
      .then(
        () => true,
        (err: { statusCode?: number }) => (err.statusCode === 404 ? false : undefined),
      );
    return { seen: { ok: true, host, version: v.Version, apiVersion: v.ApiVersion }, pause };
  } catch (err) {
    return { seen: { ok: false, host, error: (err as Error).message }, pause: undefined };
  }
}

function reach(manager: string): Promise<ManagerReach> {
  const hp = splitHostPort(manager);
  if (!hp) return Promise.resolve({ manager, ok: false, error: 'not host:port' });
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host: hp.host, port: hp.port, timeout: CONNECT_TIMEOUT_MS });
    const done = (r: ManagerReach) => {
      sock.destroy();
      resolve(r);
    };
    sock.once('connect', () => done({ manager, ok: true, ms: Math.round(performance.now() - t0) }));
    sock.once('timeout', () => done({ manager, ok: false, error: `no answer within ${CONNECT_TIMEOUT_MS} ms (filtered?)` }));
    sock.once('error', (err: NodeJS.ErrnoException) => done({ manager, ok: false, error: err.code ?? err.message }));
  });
}

/** Whether the wildcard address can take the port (a listener on any address of it says no). */
function tryBind(proto: 'tcp' | 'udp', port: number): Promise<{ bind: 'free' | 'in-use' | 'error'; error?: string }> {
  const verdict = (err: NodeJS.ErrnoException | undefined) => (err === undefined ? { bind: 'free' as const } : err.code === 'EADDRINUSE' ? { bind: 'in-use' as const } : { bind: 'error' as const, error: err.code ?? err.message });
  if (proto === 'tcp') {
    return new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', (err: NodeJS.ErrnoException) => resolve(verdict(err)));
      server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(verdict(undefined))));
    });
  }
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', (err: NodeJS.ErrnoException) => {
      sock.close();
      resolve(verdict(err));
    });
    sock.bind({ port, address: '0.0.0.0', exclusive: true }, () => sock.close(() => resolve(verdict(undefined))));
  });
}

function ifaceOf(address: string): { iface: string; mtu: number | undefined } | undefined {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs?.some((a) => a.address === address)) continue;
    const path = `/sys/class/net/${name}/mtu`;
    return { iface: name, mtu: existsSync(path) ? Number(readFileSync(path, 'utf8').trim()) : undefined };
  }
  return undefined;
}

/** Runs every check; agentd is asked first (its facts sharpen the rest) and may be stopped. */
export async function runDoctor(opts: DoctorOptions): Promise<CheckResult[]> {
  const { config } = opts;
  let facts: AgentdFacts | undefined;
  let state: string | undefined;
  let agentdError: string | undefined;
  try {
    facts = (await controlRequest(opts.socket, '/doctor')) as AgentdFacts;
    state = facts.state;
  } catch (err) {
    if (err instanceof ControlRequestError && err.code === 'E_NO_ENDPOINT') {
      // An older agentd without /doctor: its status still says it runs.
      state = ((await controlRequest(opts.socket, '/status').catch(() => undefined)) as AgentStatus | undefined)?.state.state;
    }
    agentdError = (err as Error).message;
  }
  const running = facts !== undefined;
  const results: CheckResult[] = [checkRoot(process.getuid?.() ?? -1), checkAgentd({ running, pid: facts?.pid, state, error: agentdError, socket: opts.socket })];

  const dockerHost = facts?.dockerHost ?? config.dockerHost;
  const docker = await dockerSeen(dockerHost);
  results.push(checkDocker(docker.seen), checkPauseImage(PAUSE_IMAGE, docker.pause));

  let nativeError: string | undefined;
  try {
    loadNativeAddon();
  } catch (err) {
    nativeError = (err as Error).message;
  }
  results.push(checkNativeAddon(nativeError));

  const vxlanLoaded = existsSync('/sys/module/vxlan');
  results.push(checkVxlan({ loaded: vxlanLoaded, loadable: vxlanLoaded ? undefined : (await runCommand('modprobe', ['-n', 'vxlan'])).code === 0 }));

  const vip = await probeVipSupport();
  results.push(checkVipBackend({ ...vip, configured: facts?.vipBackend.configured ?? config.vipBackend, inUse: facts?.vipBackend.inUse }));

  const ipt = await runCommand('iptables', ['--version']);
  results.push(checkIptables(ipt.code === 0 ? ipt.stdout : undefined));

  const managers = facts?.managers ?? knownManagers(config);
  const managerSource = facts ? 'from agentd' : `from --manager, BERTH_MANAGER, the config file and ${config.stateDir}/managers.json`;
  let advertise = facts?.advertiseAddress ?? facts?.configuredAdvertiseAddress ?? config.advertiseAddr;
  let advertiseSource = facts?.advertiseAddress ? 'agentd\'s data plane' : advertise ? '--advertise-addr' : 'none';
  if (!advertise && managers[0]) {
    advertise = await localAddressToward(managers[0]);
    advertiseSource = `the route toward ${managers[0]}`;
  }
  const where = advertise ? ifaceOf(advertise) : undefined;
  results.push(checkMtu({ advertiseAddress: advertise, source: advertiseSource, iface: where?.iface, mtu: where?.mtu }));

  results.push(checkManagers(await Promise.all(managers.map(reach)), managerSource));

  const ss = await runCommand('ss', ['-H', '-lntup']);
  const listeners: Listener[] = ss.code === 0 ? parseSsListeners(ss.stdout) : [];
  for (const [proto, port] of [['tcp', GOSSIP_PORT], ['udp', GOSSIP_PORT], ['udp', VXLAN_PORT]] as const) {
    const b = await tryBind(proto, port);
    results.push(
      checkPort({
        port,
        proto,
        bind: b.bind,
        ...(b.error ? { bindError: b.error } : {}),
        listeners: listeners.filter((l) => l.proto === proto && l.port === port),
        agentdPid: facts?.pid,
        agentdOverlays: (facts?.overlayNetworks ?? 0) > 0,
      }),
    );
  }

  results.push(checkClockSkew(facts?.clockSkew, running));

  if (facts?.certificate) {
    results.push(checkCertificate({ ...facts.certificate, source: 'from agentd' }, Date.now(), ''));
  } else {
    let identity: ReturnType<typeof loadIdentity> | undefined;
    let why = `no node certificate in ${config.stateDir}/certificates (not joined yet)`;
    try {
      identity = loadIdentity(config.stateDir);
    } catch (err) {
      why = `cannot read ${config.stateDir}/certificates: ${(err as Error).message}`;
    }
    results.push(checkCertificate(identity && { notBefore: identity.info.notBefore.toISOString(), notAfter: identity.info.notAfter.toISOString(), source: `${config.stateDir}/certificates` }, Date.now(), why));
  }
  return results;
}

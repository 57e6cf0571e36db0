// agentd configuration: flags > environment > config file (JSON) > defaults.
// Resolution is pure; reading the file and parsing argv happen in the CLI.
import os from 'node:os';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ConfigError } from './errors.js';
import { DEFAULT_NETNS_DIR, type LogLevel } from '../base/index.js';

/** agentd's exit status for a configuration error (sysexits' EX_CONFIG); the unit's
 *  RestartPreventExitStatus= names it, so systemd does not restart into the same error. */
export const EXIT_CONFIG_ERROR = 78;

const DEFAULT_STATE_DIR = '/var/lib/berth';
export const DEFAULT_CONFIG_FILE = '/etc/berth/agentd.json';
export const DEFAULT_CONTROL_SOCKET = '/run/berth/agentd.sock';
const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';
const DEFAULT_MANAGER_PORT = 2377;
const DEFAULT_RECONCILE_INTERVAL_MS = 60_000;
const MIN_RECONCILE_INTERVAL_MS = 100;
const MAX_RECONCILE_INTERVAL_MS = 24 * 3600_000;
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

export interface AgentConfig {
  /** Needed only for the first join; afterwards the saved identity is used. */
  joinToken: string | undefined;
  /** host:port of managers to try, in order (the session's manager list takes over later). */
  managers: string[];
  advertiseAddr: string | undefined;
  stateDir: string;
  dockerHost: string;
  hostname: string;
  controlSocket: string;
  logLevel: LogLevel;
  /** Program overlays and serve the embedded DNS (sandbox per task). */
  dataPlane: boolean;
  /** Where overlay network namespaces are pinned (one agentd per directory). */
  netnsDir: string;
  /** Data plane reconcile period; 0 = only the one after start. */
  reconcileIntervalMs: number;
  /** Which VIP load balancer: auto = IPVS where the kernel has it, else nftables. */
  vipBackend: 'auto' | 'ipvs' | 'nftables';
  /** Idle timeouts of connections through a VIP or published port, seconds (undefined: berth's defaults). */
  lbTcpTimeoutS: number | undefined;
  lbUdpTimeoutS: number | undefined;
  /** Where the Prometheus metrics are also served over TCP (the control socket always serves
   *  them); undefined: nowhere else. Loopback only unless metricsAllowRemote. */
  metricsAddr: { host: string; port: number } | undefined;
  /** How many warm sandboxes (pause containers on the engine's bridge) tasks without networks
   *  may take instead of having the engine make them a network namespace; 0 = none. */
  sandboxPool: number;
  /** Where tasks without networks run: gateway = a sandbox berth plumbs onto its gateway bridge
   *  (the data plane on); bridge = the engine's default bridge, as on Docker's worker. */
  networklessTasks: 'gateway' | 'bridge';
}

/** The keys a config file, the environment and flags may set (all optional). */
export interface ConfigInput {
  joinToken?: string | undefined;
  managers?: string[] | string | undefined;
  advertiseAddr?: string | undefined;
  stateDir?: string | undefined;
  dockerHost?: string | undefined;
  hostname?: string | undefined;
  controlSocket?: string | undefined;
  logLevel?: string | undefined;
  dataPlane?: boolean | string | undefined;
  netnsDir?: string | undefined;
  /** A duration: 90, "90s", "500ms", "5m" (a bare number is seconds); 0 turns periodic runs off. */
  reconcileInterval?: string | number | undefined;
  vipBackend?: string | undefined;
  /** Durations, as reconcileInterval. */
  lbTcpTimeout?: string | number | undefined;
  lbUdpTimeout?: string | number | undefined;
  /** host:port, the host an IP address: 127.0.0.1:9323, [::1]:9323. */
  metricsAddr?: string | undefined;
  /** Serve metrics on a non-loopback metricsAddr (they are unauthenticated). */
  metricsAllowRemote?: boolean | string | undefined;
  /** A count, 0..MAX_SANDBOX_POOL. */
  sandboxPool?: number | string | undefined;
  /** gateway or bridge. */
  networklessTasks?: string | undefined;
}

const ENV_KEYS: Record<keyof ConfigInput, string> = {
  joinToken: 'BERTH_JOIN_TOKEN',
  managers: 'BERTH_MANAGER',
  advertiseAddr: 'BERTH_ADVERTISE_ADDR',
  stateDir: 'BERTH_STATE_DIR',
  dockerHost: 'DOCKER_HOST',
  hostname: 'BERTH_HOSTNAME',
  controlSocket: 'BERTH_CONTROL_SOCKET',
  logLevel: 'BERTH_LOG_LEVEL',
  dataPlane: 'BERTH_DATA_PLANE',
  netnsDir: 'BERTH_NETNS_DIR',
  reconcileInterval: 'BERTH_RECONCILE_INTERVAL',
  vipBackend: 'BERTH_VIP_BACKEND',
  lbTcpTimeout: 'BERTH_LB_TCP_TIMEOUT',
  lbUdpTimeout: 'BERTH_LB_UDP_TIMEOUT',
  metricsAddr: 'BERTH_METRICS_ADDR',
  metricsAllowRemote: 'BERTH_METRICS_ALLOW_REMOTE',
  sandboxPool: 'BERTH_SANDBOX_POOL',
  networklessTasks: 'BERTH_NETWORKLESS_TASKS',
};

const VIP_BACKENDS = ['auto', 'ipvs', 'nftables'] as const;
const NETWORKLESS_TASKS = ['gateway', 'bridge'] as const;

function timeoutSecondsOf(v: string | number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const s = Math.round(parseDurationMs(v, what) / 1000);
  if (s < 1) throw new ConfigError('E_CONFIG_DURATION', `${what} "${String(v).trim()}" must be at least 1s`);
  return s;
}

export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {};
  for (const [key, name] of Object.entries(ENV_KEYS) as Array<[keyof ConfigInput, string]>) {
    const v = env[name];
    if (v !== undefined && v !== '') (out as Record<string, string>)[key] = v;
  }
  return out;
}

export function parseConfigFile(text: string, path: string): ConfigInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('E_CONFIG_FILE', `${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('E_CONFIG_FILE', `${path} must hold a JSON object`);
  }
  const known = new Set(Object.keys(ENV_KEYS));
  for (const k of Object.keys(parsed)) {
    if (!known.has(k)) throw new ConfigError('E_CONFIG_KEY', `${path}: unknown key "${k}" (known: ${[...known].join(', ')})`);
  }
  return parsed as ConfigInput;
}

function normalizeManager(addr: string): string {
  const a = addr.trim();
  if (a === '') throw new ConfigError('E_CONFIG_MANAGER', 'empty manager address');
  // [v6]:port, v4:port, host:port, or a bare host/address (default port).
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(a);
  if (bracketed) return `[${bracketed[1]}]:${checkPort(bracketed[2] ?? String(DEFAULT_MANAGER_PORT), a)}`;
  if (isIP(a) === 6) return `[${a}]:${DEFAULT_MANAGER_PORT}`;
  const idx = a.lastIndexOf(':');
  if (idx === -1) return `${a}:${DEFAULT_MANAGER_PORT}`;
  return `${a.slice(0, idx)}:${checkPort(a.slice(idx + 1), a)}`;
}

function checkPort(p: string, whole: string): number {
  const n = Number(p);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError('E_CONFIG_MANAGER', `manager address ${whole}: bad port "${p}"`);
  return n;
}

function managersOf(v: string[] | string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const list = Array.isArray(v) ? v : v.split(',');
  return list.filter((s) => s.trim() !== '').map(normalizeManager);
}

/** A duration in ms from 90 (seconds), "90s", "1500ms", "5m" or "1h". */
function parseDurationMs(v: string | number, what: string): number {
  const text = String(v).trim();
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) throw new ConfigError('E_CONFIG_DURATION', `${what} "${text}" is not a duration (e.g. 60s, 500ms, 5m; a bare number is seconds)`);
  return Math.round(Number(m[1]) * DURATION_UNITS_MS[m[2] ?? 's']!);
}

function reconcileIntervalOf(v: string | number | undefined): number {
  if (v === undefined) return DEFAULT_RECONCILE_INTERVAL_MS;
  const ms = parseDurationMs(v, 'reconcile interval');
  if (ms !== 0 && (ms < MIN_RECONCILE_INTERVAL_MS || ms > MAX_RECONCILE_INTERVAL_MS)) {
    throw new ConfigError('E_CONFIG_DURATION', `reconcile interval "${String(v).trim()}" must be 0 (off) or between ${MIN_RECONCILE_INTERVAL_MS}ms and 24h`);
  }
  return ms;
}

function vipBackendOf(v: string | undefined): AgentConfig['vipBackend'] {
  const b = (v ?? 'auto').trim();
  if (!(VIP_BACKENDS as readonly string[]).includes(b)) throw new ConfigError('E_CONFIG_VIP_BACKEND', `vip backend "${b}" is not one of ${VIP_BACKENDS.join(', ')}`);
  return b as AgentConfig['vipBackend'];
}

function networklessTasksOf(v: string | undefined): AgentConfig['networklessTasks'] {
  const w = (v ?? 'gateway').trim();
  if (!(NETWORKLESS_TASKS as readonly string[]).includes(w)) {
    throw new ConfigError('E_CONFIG_NETWORKLESS_TASKS', `networkless tasks "${w}" is not one of ${NETWORKLESS_TASKS.join(', ')} (gateway: berth's gateway bridge; bridge: the engine's default bridge)`);
  }
  return w as AgentConfig['networklessTasks'];
}

function isTrue(v: boolean | string | undefined): boolean {
  return v === true || v === 'true' || v === '1';
}

/**
 * The metrics listener's address. Loopback only by default: the endpoint has no
 * authentication and names the node's services, networks and tasks' states (Docker's
 * --metrics-addr is off by default and its docs ask for loopback too); metricsAllowRemote opens it.
 */
function metricsAddrOf(v: string | undefined, allowRemote: boolean): AgentConfig['metricsAddr'] {
  if (v === undefined || v.trim() === '') return undefined;
  const text = v.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (!host || isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError('E_CONFIG_METRICS_ADDR', `metrics address "${text}" must be an IP address and a port, e.g. 127.0.0.1:9323 or [::1]:9323`);
  }
  if (!allowRemote && ipaddr.process(host).range() !== 'loopback') {
    throw new ConfigError(
      'E_CONFIG_METRICS_ADDR',
      `metrics address "${text}" is not a loopback address: the metrics endpoint has no authentication; use 127.0.0.1:<port> (and scrape through a proxy), or pass --metrics-allow-remote to serve it on ${host}`,
    );
  }
  return { host, port };
}

/** Each warm sandbox holds a pause process and its containerd shim while it waits. */
export const MAX_SANDBOX_POOL = 100;

function sandboxPoolOf(v: number | string | undefined): number {
  if (v === undefined) return 0;
  const text = String(v).trim();
  const n = Number(text);
  if (text === '' || !Number.isInteger(n) || n < 0 || n > MAX_SANDBOX_POOL) {
    throw new ConfigError('E_CONFIG_SANDBOX_POOL', `sandbox pool "${text}" must be a whole number from 0 (off) to ${MAX_SANDBOX_POOL}`);
  }
  return n;
}

/** Merges the layers (later wins) and validates the result. */
export function resolveConfig(layers: ConfigInput[], hostname = os.hostname()): AgentConfig {
  const merged: ConfigInput = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  }
  const logLevel = (merged.logLevel ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('E_CONFIG_LOG_LEVEL', `log level "${merged.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  if (merged.advertiseAddr !== undefined && isIP(merged.advertiseAddr) === 0) {
    throw new ConfigError('E_CONFIG_ADVERTISE', `--advertise-addr must be an IP address, got "${merged.advertiseAddr}"`);
  }
  return {
    joinToken: merged.joinToken?.trim() || undefined,
    managers: managersOf(merged.managers) ?? [],
    advertiseAddr: merged.advertiseAddr,
    stateDir: merged.stateDir ?? DEFAULT_STATE_DIR,
    dockerHost: merged.dockerHost ?? DEFAULT_DOCKER_HOST,
    hostname: merged.hostname ?? hostname,
    controlSocket: merged.controlSocket ?? DEFAULT_CONTROL_SOCKET,
    logLevel,
    netnsDir: merged.netnsDir ?? DEFAULT_NETNS_DIR,
    reconcileIntervalMs: reconcileIntervalOf(merged.reconcileInterval),
    vipBackend: vipBackendOf(merged.vipBackend),
    lbTcpTimeoutS: timeoutSecondsOf(merged.lbTcpTimeout, 'lb tcp timeout'),
    lbUdpTimeoutS: timeoutSecondsOf(merged.lbUdpTimeout, 'lb udp timeout'),
    dataPlane: merged.dataPlane === undefined ? true : isTrue(merged.dataPlane),
    metricsAddr: metricsAddrOf(merged.metricsAddr, isTrue(merged.metricsAllowRemote)),
    sandboxPool: sandboxPoolOf(merged.sandboxPool),
    networklessTasks: networklessTasksOf(merged.networklessTasks),
  };
}

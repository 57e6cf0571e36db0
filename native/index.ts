// Typed front for the berth_native addon.
// The addon is loaded on first use, so importing this module never fails on a machine where
// `npm run build:native` has not run yet; only the calls that need it do.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { BerthError } from '../base/index.js';

const ADDON_FILE = join('build', 'Release', 'berth_native.node');
const BUILD_HINT = 'run `npm run build:native` (scripts/build-native.sh)';
const DEFAULT_BACKLOG = 511;
const MIN_PORT = 0;
const MAX_PORT = 65535;
const MAX_BACKLOG = 2 ** 31 - 1;

// build/ beside this module: native/build in the source tree, dist/native/build in the built
// layout (scripts/build.sh copies the addon there), never the one from a source tree.
const NATIVE_DIRS = [dirname(fileURLToPath(import.meta.url))];

export type SocketType = 'udp' | 'tcp';

export interface NetnsSocketOptions {
  type: SocketType;
  /** IPv4 or IPv6 literal; an IPv6 zone (`fe80::1%eth0`) is resolved inside the namespace. */
  address: string;
  /** 0 lets the kernel pick a port inside the namespace. */
  port: number;
  /** SO_REUSEADDR; default false. */
  reuseAddr?: boolean;
  /** IPV6_V6ONLY for IPv6 addresses; default true so `::` does not also take IPv4. */
  ipv6Only?: boolean;
  /** listen(2) backlog for tcp; default 511 like Node's net.Server. */
  backlog?: number;
}

export type NativeErrorCode =
  | 'E_NATIVE_MISSING'
  | 'E_NATIVE_LOAD'
  | 'E_INVALID_ARGUMENT'
  | 'E_NETNS_OPEN'
  | 'E_SETNS'
  | 'E_ADDRESS'
  | 'E_SOCKET'
  | 'E_SETSOCKOPT'
  | 'E_BIND'
  | 'E_LISTEN'
  | 'E_THREAD'
  | 'E_NETNS_CREATE'
  | 'E_NETNS_DELETE'
  | 'E_NETLINK_SEND'
  | 'E_NETLINK_RECV'
  | 'E_SEND'
  | 'E_NOMEM';

/** A bad argument or a missing build: not temporary. A failed system call (the subclasses) is:
 *  the namespace or the kernel's state it depends on may change. */
export class NativeError extends BerthError {
  declare readonly code: NativeErrorCode;
  constructor(code: NativeErrorCode, message: string, options?: { cause?: unknown; temporary?: boolean }) {
    super(code, message, options);
  }
}

/** A system call failed while opening a socket in a namespace; `errno` is the positive Linux errno. */
export class NetnsSocketError extends NativeError {
  readonly errnoName: string;
  constructor(
    code: NativeErrorCode,
    readonly errno: number,
    readonly syscall: string,
    readonly netnsPath: string,
    readonly address: string,
    readonly port: number,
    message: string,
  ) {
    super(code, message, { temporary: true });
    this.errnoName = errnoName(errno);
  }
}

interface NativeFailure {
  code: NativeErrorCode;
  errno: number;
  syscall: string;
  message: string;
}

type NativeResult = number | NativeFailure;

type NativeOpenArgs = [
  netnsPath: string,
  type: SocketType,
  address: string,
  port: number,
  reuseAddr: boolean,
  ipv6Only: boolean,
  backlog: number,
];

interface NativeAddon {
  openSocketInNetns(...args: NativeOpenArgs): NativeResult;
  openSocketInNetnsAsync(...args: NativeOpenArgs): Promise<NativeResult>;
  openNetlinkInNetns(netnsPath: string, protocol: number): NativeResult;
  netlinkTransactAsync(fd: number, request: Buffer): Promise<Buffer[] | NativeFailure>;
  createNetnsAt(path: string): true | NativeFailure;
  deleteNetnsAt(path: string): true | NativeFailure;
  sendUnixDatagram(path: string, data: Buffer): true | NativeFailure;
  tuneMalloc(mmapThreshold: number, arenaMax: number): boolean;
  releaseFreeMemory(): boolean;
  dnsUdpOpen?(
    fd: number,
    onQuery: (msg: Buffer, peer: Buffer) => void,
    generation: () => number,
    hits: Float64Array,
    recvBufferBytes: number,
    maxReplies: number,
  ): { handle: DnsUdpHandle; port: number } | NativeFailure;
  dnsUdpSend(handle: DnsUdpHandle, reply: Buffer, peer: Buffer): boolean;
  dnsUdpRemember(handle: DnsUdpHandle, query: Buffer, reply: Buffer, generation: number, rdataOffsets: Uint16Array | null, rdataLength: number): boolean;
  dnsUdpCached(handle: DnsUdpHandle): number;
  dnsUdpClose(handle: DnsUdpHandle): void;
}

/** The addon's handle of one DNS UDP socket (an N-API external). */
declare const dnsUdpHandleBrand: unique symbol;
type DnsUdpHandle = { readonly [dnsUdpHandleBrand]: true };

let addon: NativeAddon | undefined;

function findBuilt(file: string): string | undefined {
  return NATIVE_DIRS.map((d) => join(d, file)).find((p) => existsSync(p));
}

function loadAddon(): NativeAddon {
  if (addon) return addon;
  const path = findBuilt(ADDON_FILE);
  if (!path) {
    throw new NativeError(
      'E_NATIVE_MISSING',
      `native addon not built (looked for ${NATIVE_DIRS.map((d) => join(d, ADDON_FILE)).join(', ')}): ${BUILD_HINT}`,
    );
  }
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    throw new NativeError(
      'E_NATIVE_LOAD',
      `cannot load native addon ${path}: ${(err as Error).message}; rebuild it: ${BUILD_HINT}`,
      { cause: err },
    );
  }
  return addon;
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function describe(netnsPath: string, o: NetnsSocketOptions): string {
  const address = String(o.address);
  const hostPort = isIP(address.split('%')[0] ?? '') === 6 ? `[${address}]:${String(o.port)}` : `${address}:${String(o.port)}`;
  return `openSocketInNetns(${netnsPath}, ${String(o.type)} ${hostPort})`;
}

function invalid(netnsPath: string, o: NetnsSocketOptions, why: string): NativeError {
  return new NativeError('E_INVALID_ARGUMENT', `${describe(netnsPath, o)}: ${why}`);
}

/** Checks meaning (not just shape) before anything reaches C; returns the native argument list. */
export function validateNetnsSocketArgs(netnsPath: string, opts: NetnsSocketOptions): NativeOpenArgs {
  if (typeof netnsPath !== 'string' || netnsPath === '' || netnsPath.includes('\0')) {
    throw invalid(String(netnsPath), opts, 'netnsPath must be a non-empty path such as /var/run/netns/NAME or /proc/PID/ns/net');
  }
  if (opts.type !== 'udp' && opts.type !== 'tcp') {
    throw invalid(netnsPath, opts, `type must be 'udp' or 'tcp', got ${JSON.stringify(opts.type)}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < MIN_PORT || opts.port > MAX_PORT) {
    throw invalid(netnsPath, opts, `port must be an integer in ${MIN_PORT}..${MAX_PORT}, got ${String(opts.port)}`);
  }
  const [host, zone, ...rest] = typeof opts.address === 'string' ? opts.address.split('%') : [];
  const family = host === undefined ? 0 : isIP(host);
  if (family === 0 || rest.length > 0 || (zone !== undefined && (family !== 6 || zone === ''))) {
    throw invalid(netnsPath, opts, `address must be an IPv4 or IPv6 literal, got ${JSON.stringify(opts.address)}`);
  }
  const backlog = opts.backlog ?? DEFAULT_BACKLOG;
  if (!Number.isInteger(backlog) || backlog < 0 || backlog > MAX_BACKLOG) {
    throw invalid(netnsPath, opts, `backlog must be a non-negative integer, got ${String(opts.backlog)}`);
  }
  return [netnsPath, opts.type, opts.address, opts.port, opts.reuseAddr ?? false, opts.ipv6Only ?? true, backlog];
}

// Keyed by "syscall errno": the same errno means different things from different calls.
const HINTS: Record<string, string> = {
  'open ENOENT': 'does the namespace exist?',
  'setns EINVAL': 'is it a network namespace?',
  'setns EPERM': 'setns needs CAP_SYS_ADMIN (run as root)',
  'bind EADDRNOTAVAIL': 'is the address configured in that namespace, and its interface up?',
  'bind EADDRINUSE': 'something in that namespace already uses this address and port',
  'bind EACCES': 'ports below 1024 need CAP_NET_BIND_SERVICE',
};

function toResult(netnsPath: string, opts: NetnsSocketOptions, r: NativeResult): number {
  if (typeof r === 'number') return r;
  const name = errnoName(r.errno);
  const hint = HINTS[`${r.syscall} ${name}`];
  const message = `${describe(netnsPath, opts)}: ${r.syscall} failed: ${r.message} (${name})${hint ? `; ${hint}` : ''}`;
  throw new NetnsSocketError(r.code, r.errno, r.syscall, netnsPath, opts.address, opts.port, message);
}

/**
 * Opens a socket inside the network namespace at `netnsPath` (e.g. /var/run/netns/NAME or
 * /proc/PID/ns/net) and returns its fd: bound, listening for tcp, non-blocking, close-on-exec.
 * Serve it from this process with `dgram.createSocket('udp4').bind({ fd })` or
 * `net.createServer().listen({ fd })`. The caller owns the fd: close it (fs.closeSync) if it
 * is never handed to a socket. No thread of this process changes namespace.
 */
export function openSocketInNetns(netnsPath: string, opts: NetnsSocketOptions): number {
  const args = validateNetnsSocketArgs(netnsPath, opts);
  return toResult(netnsPath, opts, loadAddon().openSocketInNetns(...args));
}

/** Same as openSocketInNetns, with the syscalls off the main thread. */
export async function openSocketInNetnsAsync(netnsPath: string, opts: NetnsSocketOptions): Promise<number> {
  const args = validateNetnsSocketArgs(netnsPath, opts);
  return toResult(netnsPath, opts, await loadAddon().openSocketInNetnsAsync(...args));
}

// ---- netlink in another namespace; named namespaces -------------------------------------

/** A system call failed in one of the namespace/netlink helpers below. */
class NativeSyscallError extends NativeError {
  readonly errnoName: string;
  constructor(
    code: NativeErrorCode,
    readonly errno: number,
    readonly syscall: string,
    message: string,
  ) {
    super(code, message, { temporary: true });
    this.errnoName = errnoName(errno);
  }
}

function syscallFailure(what: string, r: NativeFailure, hint?: string): NativeSyscallError {
  const name = errnoName(r.errno);
  return new NativeSyscallError(r.code, r.errno, r.syscall, `${what}: ${r.syscall} failed: ${r.message} (${name})${hint ? `; ${hint}` : ''}`);
}

function checkPath(what: string, path: string): void {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new NativeError('E_INVALID_ARGUMENT', `${what}: path must be a non-empty string, got ${JSON.stringify(path)}`);
  }
}

/**
 * Opens a netlink socket (protocol e.g. 0 = NETLINK_ROUTE) inside the namespace at `netnsPath`
 * on a dedicated thread and returns its fd: blocking, close-on-exec, capped and extended acks,
 * large buffers. Drive it with netlinkTransact; close it with fs.closeSync.
 */
export function openNetlinkInNetns(netnsPath: string, protocol: number): number {
  checkPath('openNetlinkInNetns', netnsPath);
  const r = loadAddon().openNetlinkInNetns(netnsPath, protocol);
  if (typeof r === 'number') return r;
  throw syscallFailure(`openNetlinkInNetns(${netnsPath})`, r, HINTS[`${r.syscall} ${errnoName(r.errno)}`]);
}

/**
 * Sends `request` (one or more netlink messages back to back) in one datagram and resolves with
 * every datagram received until each message that asked for an ACK or a DUMP got its ERROR or
 * DONE. Runs on a libuv pool thread; never call it twice at once on the same fd.
 */
export async function netlinkTransact(fd: number, request: Buffer): Promise<Buffer[]> {
  const r = await loadAddon().netlinkTransactAsync(fd, request);
  if (Array.isArray(r)) return r;
  throw syscallFailure(`netlink transaction on fd ${fd}`, r);
}

/** Creates a new network namespace pinned at `path` (a bind mount, like `ip netns add`). */
export function createNetnsAt(path: string): void {
  checkPath('createNetnsAt', path);
  const r = loadAddon().createNetnsAt(path);
  if (r === true) return;
  const hint = r.syscall === 'open' && errnoName(r.errno) === 'EEXIST' ? 'a namespace (or file) already exists there' : undefined;
  throw syscallFailure(`createNetnsAt(${path})`, r, hint);
}

/** Unpins the namespace at `path` and removes the file; a missing path is not an error. */
export function deleteNetnsAt(path: string): void {
  checkPath('deleteNetnsAt', path);
  const r = loadAddon().deleteNetnsAt(path);
  if (r !== true) throw syscallFailure(`deleteNetnsAt(${path})`, r);
}

// ---- unix datagrams ---------------------------------------------------------------------

/** The longest unix socket address (sun_path). */
const UNIX_PATH_MAX = 108;

/**
 * Sends `data` as one datagram to the unix datagram socket at `path` (a leading '@' names the
 * abstract namespace), as sd_notify(3) does: Node has no unix datagram sockets. Never blocks:
 * a receiver whose queue is full fails with EAGAIN.
 */
export function sendUnixDatagram(path: string, data: Buffer): void {
  checkPath('sendUnixDatagram', path);
  if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
    throw new NativeError('E_INVALID_ARGUMENT', `sendUnixDatagram: ${path} is longer than a unix socket address holds (${UNIX_PATH_MAX} bytes)`);
  }
  const r = loadAddon().sendUnixDatagram(path, data);
  if (r !== true) throw syscallFailure(`sendUnixDatagram(${path})`, r, r.syscall === 'sendto' && errnoName(r.errno) === 'ECONNREFUSED' ? 'nothing listens on that socket' : undefined);
}

/**
 * Sets glibc malloc's mmap threshold (fixed: glibc otherwise raises it after each large block
 * freed, and large freed blocks then stay in the heap) and its arena count. False when malloc
 * refused a value.
 */
export function tuneMalloc(mmapThreshold: number, arenaMax: number): boolean {
  if (!Number.isInteger(mmapThreshold) || mmapThreshold <= 0 || !Number.isInteger(arenaMax) || arenaMax <= 0) {
    throw new NativeError('E_INVALID_ARGUMENT', `tuneMalloc: mmapThreshold and arenaMax must be positive integers, got ${mmapThreshold} and ${arenaMax}`);
  }
  return loadAddon().tuneMalloc(mmapThreshold, arenaMax);
}

/** Gives malloc's free pages back to the kernel (malloc_trim); true when some were. */
export function releaseFreeMemory(): boolean {
  return loadAddon().releaseFreeMemory();
}

/** Loads the addon (a no-op once loaded); throws E_NATIVE_MISSING / E_NATIVE_LOAD with the fix. */
export function loadNativeAddon(): void {
  loadAddon();
}

// ---- the embedded DNS's UDP socket --------------------------------------------------------

export interface DnsUdpOptions {
  /**
   * Every datagram not answered from the kept replies, as received; `peer` is the sender's
   * address (a sockaddr), to hand back to send(). Runs as a Node callback (microtasks after it).
   */
  onQuery(msg: Buffer, peer: Buffer): void;
  /** The names' generation now: a kept reply is served only while it equals the one it was kept at. */
  generation(): number;
  /** Incremented by one per query answered from the kept replies (never reaching onQuery). */
  hits: Float64Array;
  /** SO_RCVBUF asked for (capped by net.core.rmem_max). */
  recvBufferBytes: number;
  /** Replies kept at most; the set starts over when full. */
  maxReplies: number;
}

/**
 * A UDP socket read and answered on the main event loop by the addon (recvmmsg/sendmmsg):
 * queries whose bytes after the ID match a reply kept with remember() at the current
 * generation are answered in C, the ID patched in; the rest go to onQuery.
 */
export class DnsUdpSocket {
  /** The bound port (as getsockname says). */
  readonly port: number;
  private readonly handle: DnsUdpHandle;
  private readonly addon: NativeAddon;

  constructor(handle: DnsUdpHandle, port: number, addon: NativeAddon) {
    this.handle = handle;
    this.port = port;
    this.addon = addon;
  }

  /** Sends reply to peer now (non-blocking); false when it was dropped or the socket is closed. */
  send(reply: Buffer, peer: Buffer): boolean {
    return this.addon.dnsUdpSend(this.handle, reply, peer);
  }

  /**
   * Keeps reply for later datagrams with query's bytes after its ID, valid while the names stay
   * at generation. rdataOffsets: where each of several same-length addresses starts, shuffled
   * per answer. False when not kept (query over 300 bytes, reply over 4096, socket closed).
   */
  remember(query: Buffer, reply: Buffer, generation: number, rdataOffsets: Uint16Array | undefined, rdataLength: number): boolean {
    return this.addon.dnsUdpRemember(this.handle, query, reply, generation, rdataOffsets ?? null, rdataLength);
  }

  /** Replies kept now. */
  keptReplies(): number {
    return this.addon.dnsUdpCached(this.handle);
  }

  /** Stops reading and closes the socket at once (idempotent). */
  close(): void {
    this.addon.dnsUdpClose(this.handle);
  }
}

/**
 * Serves the bound UDP socket `fd` (from openSocketInNetns) with the addon; takes ownership of
 * the fd on success (close() closes it), leaves it to the caller on failure.
 */
export function openDnsUdpSocket(fd: number, opts: DnsUdpOptions): DnsUdpSocket {
  const a = loadAddon();
  if (!a.dnsUdpOpen) throw new NativeError('E_NATIVE_LOAD', `the native addon predates the DNS UDP socket (no dnsUdpOpen): ${BUILD_HINT}`);
  const r = a.dnsUdpOpen(fd, opts.onQuery, opts.generation, opts.hits, opts.recvBufferBytes, opts.maxReplies);
  if ('handle' in r) return new DnsUdpSocket(r.handle, r.port, a);
  throw syscallFailure(`openDnsUdpSocket(fd ${fd})`, r);
}

// Per-sandbox listeners: UDP and TCP sockets bound to 127.0.0.11:53 *inside* the sandbox's
// network namespace (opened there by native/ on a helper thread) and served from agentd's own
// event loop, so one process serves every sandbox without entering any namespace.
//
// Why bind :53 directly instead of Docker's DNAT to a high port:
// - Docker binds 127.0.0.11:<random> and installs per-container iptables DNAT/SNAT rules so
//   that :53 stays free for the task. That puts conntrack on every query: glibc sends A and
//   AAAA from one socket at once, and the two racing DNAT'd UDP flows hit the conntrack
//   insertion race that drops one of them (the well-known 5 s lookup stalls). It also needs
//   nat rules in every sandbox (another netlink program per sandbox, another thing to leak on
//   a crash) and costs a NAT lookup per packet.
// - Direct bind has none of that: no rules to install before names work, nothing in the
//   sandbox to clean up, and the socket exists the moment openSocketInNetns returns.
// - What it gives up, measured on this kernel: a task process binding the *wildcard* :53
//   fails with EADDRINUSE (TCP always; UDP unless both sides set SO_REUSEADDR — ours does,
//   and the kernel still delivers 127.0.0.11 traffic to the more specific socket). Binding
//   its own address (eth0's IP, 127.0.0.1) on :53 works. Tasks that must own 0.0.0.0:53 are
//   rare (DNS servers), and for them the listener takes any port: a DNAT mode is a netd rule
//   plus `port` here, added when a workload needs it.
//
// UDP is read and answered by native/ (recvmmsg/sendmmsg on the Node loop): a query repeating
// one the server answered locally is served there from the server's kept reply, at a fraction
// of a dgram socket's per-datagram cost; everything else comes here through onQuery.
import { closeSync } from 'node:fs';
import net from 'node:net';
import { openDnsUdpSocket, openSocketInNetnsAsync, type DnsUdpSocket } from '../native/index.js';
import { EMBEDDED_DNS_ADDRESS } from '../base/index.js';
import { DnsError } from './errors.js';
import type { SandboxId } from './name-table.js';
import type { DnsServer } from './server.js';

const EMBEDDED_DNS_PORT = 53;
/** RFC 7766 6.2.3: servers should close idle TCP connections; seconds, not minutes. */
const TCP_IDLE_MS = 10_000;
/** Per sandbox; a task opening more is misbehaving and waits in the backlog. */
const MAX_TCP_CONNECTIONS = 64;
/**
 * Pipelined queries per TCP connection answered concurrently. At the cap the connection's
 * reads pause (what the client sent waits in the kernel, then in its own socket) and resume as
 * answers go out: one connection cannot queue thousands of queries into the forwarder.
 */
export const MAX_TCP_PIPELINE = 32;
/** Room for a burst of ~2,000 queries queued in the kernel while the event loop is busy. */
const UDP_RECV_BUFFER = 1 << 20;
const TCP_LENGTH_PREFIX = 2;
/**
 * Replies the native UDP socket keeps per sandbox (it starts over when full). A task asks a
 * handful of names; the cap bounds what one sandbox can make it hold (case variants of a
 * 4 KB dnsrr answer are distinct queries) to about 1 MB, however many sandboxes there are.
 */
const KEPT_REPLIES_PER_SANDBOX = 256;

export interface ListenerOptions {
  address?: string;
  port?: number;
}

/** Counters of the TCP side, shared by every listener of one EmbeddedDns. */
export interface ListenerStats {
  /** TCP connections open now. */
  tcpConnections: number;
  /** Times a connection's reads were paused with MAX_TCP_PIPELINE queries outstanding. */
  tcpReadsPaused: number;
  /** The most queries one connection had outstanding at once (never above MAX_TCP_PIPELINE). */
  tcpPipelinePeak: number;
}

export function emptyListenerStats(): ListenerStats {
  return { tcpConnections: 0, tcpReadsPaused: 0, tcpPipelinePeak: 0 };
}

export interface SandboxListener {
  readonly sandboxId: SandboxId;
  readonly netnsPath: string;
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves UDP: kept replies in native/, the rest through server.handle(). Takes fd on success. */
function serveUdp(fd: number, server: DnsServer, sandboxId: SandboxId): DnsUdpSocket {
  const sock: DnsUdpSocket = openDnsUdpSocket(fd, {
    onQuery(msg, peer) {
      const r = server.handle(msg, sandboxId, 'udp');
      if (r === undefined) return;
      // Send errors (a client gone, ENOBUFS under a flood) concern one datagram, never the listener.
      if (r instanceof Promise) {
        void r.then((reply) => sock.send(reply, peer));
        return;
      }
      sock.send(r, peer);
      const kept = server.keptAnswer(msg, sandboxId, 'udp');
      if (kept) sock.remember(msg, kept.reply, kept.generation, kept.rdataOffsets, kept.rdataLength);
    },
    generation: () => server.names.generation,
    hits: server.keptReplyHits,
    recvBufferBytes: UDP_RECV_BUFFER,
    maxReplies: KEPT_REPLIES_PER_SANDBOX,
  });
  return sock;
}

function listenTcp(server: net.Server, fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      try {
        closeSync(fd);
      } catch {
        // the server took it
      }
      reject(err);
    });
    server.listen({ fd }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
}

/** Serves one TCP connection: length-prefixed messages, pipelined, answered in any order (RFC 7766 6.2.1.1). */
function serveTcpConnection(conn: net.Socket, server: DnsServer, sandboxId: SandboxId, stats: ListenerStats): void {
  /** Received and not handled yet: the rest of a message, or whole ones waiting for the cap. */
  let unread: Buffer | undefined;
  let outstanding = 0;
  let paused = false;
  let handling = false;
  /** The client sent its last query (half-close): answer what it asked, then close our side. */
  let ended = false;
  conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
  conn.on('error', () => conn.destroy());
  const endWhenAnswered = () => {
    if (ended && outstanding === 0 && !handling && !conn.writableEnded) conn.end();
  };
  const handleUnread = () => {
    handling = true;
    let buf = unread;
    unread = undefined;
    while (buf && outstanding < MAX_TCP_PIPELINE && buf.length >= TCP_LENGTH_PREFIX) {
      const len = buf.readUInt16BE(0);
      if (buf.length < TCP_LENGTH_PREFIX + len) break;
      const msg = buf.subarray(TCP_LENGTH_PREFIX, TCP_LENGTH_PREFIX + len);
      buf = buf.subarray(TCP_LENGTH_PREFIX + len);
      const r = server.handle(msg, sandboxId, 'tcp');
      // A malformed message on a stream leaves nothing sane to continue with.
      if (r === undefined) {
        handling = false;
        conn.destroy();
        return;
      }
      outstanding++;
      if (outstanding > stats.tcpPipelinePeak) stats.tcpPipelinePeak = outstanding;
      if (r instanceof Promise) void r.then(write);
      else write(r);
    }
    // A partial message is copied out of the chunk, which would otherwise stay alive for it.
    unread = !buf || buf.length === 0 ? undefined : outstanding >= MAX_TCP_PIPELINE ? buf : Buffer.from(buf);
    handling = false;
    if (outstanding >= MAX_TCP_PIPELINE) {
      if (!paused) {
        paused = true;
        stats.tcpReadsPaused++;
        conn.pause();
      }
    } else if (paused) {
      paused = false;
      conn.resume();
    }
    endWhenAnswered();
  };
  const write = (reply: Buffer) => {
    outstanding--;
    if (conn.destroyed) return;
    const len = Buffer.allocUnsafe(TCP_LENGTH_PREFIX);
    len.writeUInt16BE(reply.length, 0);
    conn.cork();
    conn.write(len);
    conn.write(reply);
    conn.uncork();
    // Synchronous answers come back inside handleUnread's loop, which carries on by itself.
    if (paused && !handling) handleUnread();
    endWhenAnswered();
  };
  conn.on('data', (chunk: Buffer) => {
    unread = unread ? Buffer.concat([unread, chunk]) : chunk;
    handleUnread();
  });
  conn.on('end', () => {
    ended = true;
    endWhenAnswered();
  });
}

/**
 * Opens UDP and TCP listeners at address:port (127.0.0.11:53) inside the namespace at
 * netnsPath (/proc/PID/ns/net or /var/run/netns/NAME; its `lo` must be up) and serves them
 * with server, answering as sandbox sandboxId.
 */
export async function openSandboxListener(server: DnsServer, sandboxId: SandboxId, netnsPath: string, opts: ListenerOptions = {}, stats = emptyListenerStats()): Promise<SandboxListener> {
  const address = opts.address ?? EMBEDDED_DNS_ADDRESS;
  const port = opts.port ?? EMBEDDED_DNS_PORT;
  const where = `DNS listener for sandbox ${sandboxId} at ${address}:${port} in ${netnsPath}`;
  let udpFd: number | undefined;
  let tcpFd: number | undefined;
  let udp: DnsUdpSocket | undefined;
  const conns = new Set<net.Socket>();
  // Half-open: a client may send its queries and shut its side; the answers still go out.
  const tcp = net.createServer({ noDelay: true, allowHalfOpen: true }, (conn) => {
    conns.add(conn);
    stats.tcpConnections++;
    conn.on('close', () => {
      conns.delete(conn);
      stats.tcpConnections--;
    });
    serveTcpConnection(conn, server, sandboxId, stats);
  });
  tcp.maxConnections = MAX_TCP_CONNECTIONS;
  try {
    udpFd = await openSocketInNetnsAsync(netnsPath, { type: 'udp', address, port, reuseAddr: true });
    udp = serveUdp(udpFd, server, sandboxId);
    udpFd = undefined;
    tcpFd = await openSocketInNetnsAsync(netnsPath, { type: 'tcp', address, port: port === 0 ? udp.port : port, reuseAddr: true });
    await listenTcp(tcp, tcpFd);
    tcpFd = undefined;
  } catch (err) {
    if (udpFd !== undefined) closeSync(udpFd);
    if (tcpFd !== undefined) closeSync(tcpFd);
    udp?.close();
    throw new DnsError('E_DNS_LISTEN', `${where}: ${(err as Error).message}`, { cause: err });
  }
  const sock = udp;
  const boundPort = sock.port;
  let closing: Promise<void> | undefined;
  return {
    sandboxId,
    netnsPath,
    address,
    port: boundPort,
    close() {
      closing ??= new Promise<void>((resolve) => {
        sock.close();
        tcp.close(() => resolve());
        // Idle keep-alive connections would hold close() open for TCP_IDLE_MS.
        for (const c of conns) c.destroy();
      });
      return closing;
    },
  };
}

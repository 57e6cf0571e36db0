// A member of a hashicorp/memberlist cluster as Docker 20.10's NetworkDB runs it (wire facts in
// docs/research/networkdb-gossip-facts.md §1–3): encrypted UDP packets and TCP streams on one
// port, pings answered, suspicion of ourselves refuted, push-pull state exchange (join and
// periodic), and user messages carried for the layer above (NetworkDB). Written by hand: there is
// no Node implementation of memberlist's wire format to use.
//
// What berth needs from membership is modest — know the peers' addresses, stay alive in their
// eyes, exchange NetworkDB state — so this member does not probe others itself; peers that
// leave or die are learned from the cluster's own dead/leave gossip and push-pull.
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { crc32 } from 'node:zlib';
import { decodeMsgpack, encodeMsgpack, type MsgValue } from './msgpack.js';
import { lzwDecompress } from './lzw.js';
import { ipv4Bytes, ipv4FromBytes, parseIpv4 } from '../ipv4.js';
import { BerthError, type LogFn, type LogLevel } from '../../base/index.js';

export const MSG = { ping: 0, indirectPing: 1, ack: 2, suspect: 3, alive: 4, dead: 5, pushPull: 6, compound: 7, user: 8, compress: 9, encrypt: 10, nack: 11, hasCrc: 12, err: 13 } as const;
/** [protocol min, max, current, delegate min, max, current], as libnetwork configures memberlist. */
const VSN = Buffer.from([1, 5, 2, 0, 0, 0]);
const ENCRYPTION_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const STREAM_HEADER_BYTES = 5;
const MAX_STREAM_BYTES = 20 * 1024 * 1024;
const MAX_DECOMPRESSED_BYTES = 20 * 1024 * 1024;
const STREAM_TIMEOUT_MS = 10_000;
const STATE_ALIVE = 0;
const STATE_SUSPECT = 1;
const STATE_DEAD = 2;
const STATE_LEFT = 3;

export type GossipErrorCode = 'E_GOSSIP_CRYPTO' | 'E_GOSSIP_PROTOCOL' | 'E_GOSSIP_JOIN' | 'E_GOSSIP_IO';

/** Join and I/O failures are temporary unless said otherwise; a bad key or a peer speaking
 *  something else is not. */
export class GossipError extends BerthError {
  declare readonly code: GossipErrorCode;
  constructor(code: GossipErrorCode, message: string, options?: { cause?: unknown; temporary?: boolean }) {
    super(code, message, { cause: options?.cause, temporary: options?.temporary ?? (code === 'E_GOSSIP_JOIN' || code === 'E_GOSSIP_IO') });
  }
}

/** AES-GCM keys, the first one primary (it encrypts); every key is tried to decrypt. */
export class Keyring {
  constructor(readonly keys: readonly Buffer[]) {
    if (keys.length === 0) throw new GossipError('E_GOSSIP_CRYPTO', 'the gossip keyring is empty: the manager sent no networking:gossip keys');
    for (const k of keys) if (![16, 24, 32].includes(k.length)) throw new GossipError('E_GOSSIP_CRYPTO', `a gossip key is ${k.length} bytes; AES needs 16, 24 or 32`);
  }

  /** [version][nonce][ciphertext][tag] */
  encrypt(plain: Uint8Array, aad?: Uint8Array): Buffer {
    const key = this.keys[0]!;
    const nonce = randomBytes(NONCE_BYTES);
    const c = createCipheriv(`aes-${key.length * 8}-gcm` as CipherGCMTypes, key, nonce);
    if (aad) c.setAAD(aad);
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([Buffer.from([ENCRYPTION_VERSION]), nonce, body, c.getAuthTag()]);
  }

  decrypt(buf: Uint8Array, aad?: Uint8Array): Buffer {
    if (buf.length < 1 + NONCE_BYTES + TAG_BYTES) throw new GossipError('E_GOSSIP_CRYPTO', `encrypted payload too short (${buf.length} bytes)`);
    const version = buf[0]!;
    if (version > 1) throw new GossipError('E_GOSSIP_CRYPTO', `unknown encryption version ${version}`);
    const nonce = buf.subarray(1, 1 + NONCE_BYTES);
    const tag = buf.subarray(buf.length - TAG_BYTES);
    const body = buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES);
    for (const key of this.keys) {
      try {
        const d = createDecipheriv(`aes-${key.length * 8}-gcm` as CipherGCMTypes, key, nonce);
        if (aad) d.setAAD(aad);
        d.setAuthTag(tag);
        const plain = Buffer.concat([d.update(body), d.final()]);
        // Version 0 padded with PKCS#7.
        return version === 0 ? plain.subarray(0, plain.length - (plain[plain.length - 1] ?? 0)) : plain;
      } catch {
        // try the next key
      }
    }
    throw new GossipError('E_GOSSIP_CRYPTO', 'no gossip key decrypts this message (keys rotated, or not this cluster)');
  }
}

export interface MemberState {
  name: string;
  address: string;
  port: number;
  incarnation: number;
  state: number;
}

/** What the layer above (NetworkDB) gives and takes. */
export interface MemberlistDelegate {
  /** A user message from a peer (UDP or TCP). */
  notifyMsg(msg: Buffer): void;
  /** Our state for a push-pull. */
  localState(join: boolean): Buffer;
  /** A peer's state from a push-pull, after its members were merged. */
  mergeRemoteState(state: Buffer, join: boolean): void;
  /** A member came alive or went away. */
  notifyMember?(m: MemberState): void;
}

export interface MemberlistOptions {
  name: string;
  bindAddress: string;
  advertiseAddress: string;
  port: number;
  keyring: Keyring;
  delegate: MemberlistDelegate;
  log?: LogFn;
}

export interface MemberlistStats {
  packetsIn: number;
  packetsOut: number;
  dropped: number;
  streamsIn: number;
  pushPulls: number;
  pingsAnswered: number;
  refutations: number;
}

const asString = (v: MsgValue | undefined): string => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : typeof v === 'string' ? v : '');
const asNumber = (v: MsgValue | undefined): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0);
const asBytes = (v: MsgValue | undefined): Buffer => (v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0));
const asMap = (v: MsgValue | undefined): Record<string, MsgValue> => (v && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v) ? v : {});

function message(type: number, body: MsgValue): Buffer {
  return Buffer.concat([Buffer.from([type]), encodeMsgpack(body)]);
}

export class Memberlist {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private incarnation = 1;
  private readonly members = new Map<string, MemberState>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly counters: MemberlistStats = { packetsIn: 0, packetsOut: 0, dropped: 0, streamsIn: 0, pushPulls: 0, pingsAnswered: 0, refutations: 0 };

  private keyring: Keyring;

  /** Our advertise address as memberlist's 4-byte Addr (the sockets are IPv4 only). */
  private readonly addr: Buffer;

  constructor(private readonly opts: MemberlistOptions) {
    this.keyring = opts.keyring;
    const ip = parseIpv4(opts.advertiseAddress);
    if (ip === undefined) throw new GossipError('E_GOSSIP_IO', `gossip needs an IPv4 advertise address, got ${JSON.stringify(opts.advertiseAddress)}`, { temporary: false });
    this.addr = ipv4Bytes(ip);
  }

  /** Keys rotated by the manager: decrypt with all of them, encrypt with the new primary. */
  setKeyring(k: Keyring): void {
    this.keyring = k;
  }

  get name(): string {
    return this.opts.name;
  }

  stats(): MemberlistStats {
    return { ...this.counters };
  }

  /** Alive peers (not ourselves). */
  alive(): MemberState[] {
    return [...this.members.values()].filter((m) => m.state === STATE_ALIVE);
  }

  member(name: string): MemberState | undefined {
    return this.members.get(name);
  }

  async start(): Promise<void> {
    const udp = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    udp.on('message', (msg, rinfo) => this.onPacket(msg, rinfo.address, rinfo.port));
    udp.on('error', (err) => this.log('warn', 'gossip UDP socket error', { err: err.message }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port, this.opts.bindAddress, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      throw new GossipError('E_GOSSIP_IO', `binding gossip UDP ${this.opts.bindAddress}:${this.opts.port}: ${err.message}`, { cause: err });
    });
    this.udp = udp;
    const tcp = net.createServer((sock) => this.onStream(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.opts.port, this.opts.bindAddress, () => {
        tcp.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      udp.close();
      throw new GossipError('E_GOSSIP_IO', `listening for gossip on TCP ${this.opts.bindAddress}:${this.opts.port}: ${err.message}`, { cause: err });
    });
    this.tcp = tcp;
  }

  /**
   * Closes the sockets. With `leave` (the default) the others are told first, so they drop us
   * at once instead of waiting out a suspicion timeout; without it we just fall silent.
   */
  close(opts: { leave?: boolean } = {}): Promise<void> {
    this.closing ??= this.shutdown(opts.leave !== false);
    return this.closing;
  }

  private async shutdown(leaving: boolean): Promise<void> {
    // The leave is sent before `closed` is set (sendPacket drops everything after), and waited
    // for before the socket closes.
    const leave = message(MSG.dead, { From: this.opts.name, Incarnation: this.incarnation, Node: this.opts.name });
    const udp = this.udp;
    if (udp && leaving) {
      await Promise.all(
        this.alive().map(
          (m) =>
            new Promise<void>((r) => {
              this.counters.packetsOut++;
              udp.send(this.keyring.encrypt(leave), m.port, m.address, () => r());
            }),
        ),
      );
    }
    this.closed = true;
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  /** Push-pull (join) with each address; resolves with how many answered. */
  async join(addresses: ReadonlyArray<{ address: string; port: number }>): Promise<number> {
    let ok = 0;
    const errors: string[] = [];
    for (const a of addresses) {
      try {
        await this.pushPull(a.address, a.port, true);
        ok++;
      } catch (err) {
        errors.push(`${a.address}:${a.port}: ${(err as Error).message}`);
      }
    }
    if (ok === 0 && addresses.length > 0) throw new GossipError('E_GOSSIP_JOIN', `no gossip peer answered a join: ${errors.join('; ')}`);
    return ok;
  }

  /** One push-pull exchange over TCP. */
  async pushPull(address: string, port: number, join: boolean): Promise<void> {
    const reply = await this.request(address, port, this.localPushPull(join));
    if (reply[0] === MSG.err) throw new GossipError('E_GOSSIP_PROTOCOL', `the peer refused the push-pull: ${asString(asMap(decodeMsgpack(reply, 1).value).Error)}`);
    if (reply[0] !== MSG.pushPull) throw new GossipError('E_GOSSIP_PROTOCOL', `expected a push-pull reply, got message type ${reply[0]}`);
    this.mergePushPull(reply, join);
    this.counters.pushPulls++;
  }

  /** A user message over UDP. */
  sendBestEffort(member: MemberState, msg: Uint8Array): void {
    this.sendPacket(member.address, member.port, Buffer.concat([Buffer.from([MSG.user]), msg]));
  }

  /** A user message over TCP (no reply). */
  async sendReliable(member: MemberState, msg: Uint8Array): Promise<void> {
    const plain = Buffer.concat([Buffer.from([MSG.user]), encodeMsgpack({ UserMsgLen: msg.length }), msg]);
    await this.request(member.address, member.port, plain, false);
  }

  // ---- wire ----

  private log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, fields);
  }

  private sendPacket(address: string, port: number, plain: Buffer): void {
    if (this.closed || !this.udp) return;
    this.counters.packetsOut++;
    this.udp.send(this.keyring.encrypt(plain), port, address);
  }

  private aliveMessage(): Buffer {
    return message(MSG.alive, { Addr: this.addr, Incarnation: this.incarnation, Meta: Buffer.alloc(0), Node: this.opts.name, Port: this.opts.port, Vsn: VSN });
  }

  private localPushPull(join: boolean): Buffer {
    const user = this.opts.delegate.localState(join);
    const self = { Addr: this.addr, Incarnation: this.incarnation, Meta: Buffer.alloc(0), Name: this.opts.name, Port: this.opts.port, State: STATE_ALIVE, Vsn: VSN };
    return Buffer.concat([Buffer.from([MSG.pushPull]), encodeMsgpack({ Join: join, Nodes: 1, UserStateLen: user.length }), encodeMsgpack(self), user]);
  }

  private mergePushPull(buf: Buffer, join: boolean): void {
    let at = 1;
    const h = decodeMsgpack(buf, at);
    at = h.end;
    const header = asMap(h.value);
    const nodes = asNumber(header.Nodes);
    const userLen = asNumber(header.UserStateLen);
    for (let i = 0; i < nodes; i++) {
      const n = decodeMsgpack(buf, at);
      at = n.end;
      const s = asMap(n.value);
      this.noteMember(asString(s.Name), asBytes(s.Addr), asNumber(s.Port), asNumber(s.Incarnation), asNumber(s.State));
    }
    if (at + userLen > buf.length) throw new GossipError('E_GOSSIP_PROTOCOL', `push-pull user state runs past the message (${userLen} bytes at ${at} of ${buf.length})`);
    if (userLen > 0) this.opts.delegate.mergeRemoteState(buf.subarray(at, at + userLen), join);
  }

  private noteMember(name: string, addr: Buffer, port: number, incarnation: number, state: number): void {
    if (!name) return;
    if (name === this.opts.name) {
      if (state !== STATE_ALIVE && incarnation >= this.incarnation) this.refute(incarnation);
      return;
    }
    // A suspect is still a member (memberlist drops it only when it is declared dead); berth runs
    // no suspicion timers, so it stays alive here until a dead or leave message arrives.
    if (state === STATE_SUSPECT) state = STATE_ALIVE;
    const prev = this.members.get(name);
    if (prev && incarnation < prev.incarnation) return;
    if (prev && incarnation === prev.incarnation && state <= prev.state && state !== STATE_ALIVE) return;
    const address = ipv4FromBytes(addr) || prev?.address || '';
    const m: MemberState = { name, address, port: port || prev?.port || 0, incarnation, state: state === STATE_LEFT ? STATE_DEAD : state };
    this.members.set(name, m);
    if (!prev || prev.state !== m.state) this.opts.delegate.notifyMember?.(m);
  }

  /** Someone thinks we are suspect or dead: say we are alive with a higher incarnation. */
  private refute(incarnation: number): void {
    this.incarnation = Math.max(this.incarnation, incarnation) + 1;
    this.counters.refutations++;
    const alive = this.aliveMessage();
    for (const m of this.alive()) this.sendPacket(m.address, m.port, alive);
  }

  private onPacket(raw: Buffer, address: string, port: number): void {
    this.counters.packetsIn++;
    try {
      this.handle(this.keyring.decrypt(raw), address, port, undefined, 0);
    } catch (err) {
      this.counters.dropped++;
      this.log('debug', 'gossip packet dropped', { from: `${address}:${port}`, err: (err as Error).message });
    }
  }

  /** One message, from a packet or a stream (reply set for streams). */
  private handle(buf: Buffer, address: string, port: number, reply: ((b: Buffer) => void) | undefined, depth: number): void {
    if (buf.length === 0 || depth > 4) throw new GossipError('E_GOSSIP_PROTOCOL', 'empty or too deeply nested message');
    const type = buf[0]!;
    switch (type) {
      case MSG.hasCrc: {
        if (buf.length < 5) throw new GossipError('E_GOSSIP_PROTOCOL', 'short CRC message');
        if (crc32(buf.subarray(5)) !== buf.readUInt32BE(1)) throw new GossipError('E_GOSSIP_PROTOCOL', 'CRC mismatch');
        return this.handle(buf.subarray(5), address, port, reply, depth + 1);
      }
      case MSG.compound: {
        const n = buf[1] ?? 0;
        let at = 2 + n * 2;
        for (let i = 0; i < n; i++) {
          const len = buf.readUInt16BE(2 + i * 2);
          if (at + len > buf.length) break; // a truncated tail: memberlist tolerates it too
          this.handle(buf.subarray(at, at + len), address, port, reply, depth + 1);
          at += len;
        }
        return;
      }
      case MSG.compress: {
        const c = asMap(decodeMsgpack(buf, 1).value);
        if (asNumber(c.Algo) !== 0) throw new GossipError('E_GOSSIP_PROTOCOL', `unknown compression ${asNumber(c.Algo)}`);
        return this.handle(lzwDecompress(asBytes(c.Buf), MAX_DECOMPRESSED_BYTES), address, port, reply, depth + 1);
      }
      case MSG.ping: {
        const p = asMap(decodeMsgpack(buf, 1).value);
        const node = asString(p.Node);
        if (node !== '' && node !== this.opts.name) return;
        const ack = message(MSG.ack, { Payload: null, SeqNo: asNumber(p.SeqNo) });
        this.counters.pingsAnswered++;
        if (reply) reply(ack);
        else {
          const src = asBytes(p.SourceAddr);
          const srcPort = asNumber(p.SourcePort);
          this.sendPacket(src.length === 4 && srcPort ? ipv4FromBytes(src) : address, src.length === 4 && srcPort ? srcPort : port, ack);
        }
        return;
      }
      case MSG.indirectPing:
      case MSG.ack:
      case MSG.nack:
        return; // this member does not probe others
      case MSG.alive: {
        const a = asMap(decodeMsgpack(buf, 1).value);
        this.noteMember(asString(a.Node), asBytes(a.Addr), asNumber(a.Port), asNumber(a.Incarnation), STATE_ALIVE);
        return;
      }
      case MSG.suspect:
      case MSG.dead: {
        const s = asMap(decodeMsgpack(buf, 1).value);
        const node = asString(s.Node);
        const inc = asNumber(s.Incarnation);
        if (node === this.opts.name) {
          if (inc >= this.incarnation || type === MSG.dead) this.refute(inc);
          return;
        }
        const prev = this.members.get(node);
        if (!prev || inc < prev.incarnation) return;
        if (type === MSG.dead) this.noteMember(node, Buffer.alloc(0), prev.port, inc, STATE_DEAD);
        return;
      }
      case MSG.user: {
        if (reply) {
          // Over a stream: [8][header{UserMsgLen}][bytes]
          const h = decodeMsgpack(buf, 1);
          const len = asNumber(asMap(h.value).UserMsgLen);
          this.opts.delegate.notifyMsg(buf.subarray(h.end, h.end + len));
        } else {
          this.opts.delegate.notifyMsg(buf.subarray(1));
        }
        return;
      }
      case MSG.pushPull: {
        if (!reply) throw new GossipError('E_GOSSIP_PROTOCOL', 'push-pull over UDP');
        const join = asMap(decodeMsgpack(buf, 1).value).Join === true;
        // Ours first (the initiator waits for it), then merge theirs.
        reply(this.localPushPull(join));
        this.mergePushPull(buf, join);
        this.counters.pushPulls++;
        return;
      }
      default:
        throw new GossipError('E_GOSSIP_PROTOCOL', `unknown message type ${type}`);
    }
  }

  // ---- streams ----

  private streamFrame(plain: Buffer): Buffer {
    const len = 1 + NONCE_BYTES + plain.length + TAG_BYTES;
    const header = Buffer.alloc(STREAM_HEADER_BYTES);
    header[0] = MSG.encrypt;
    header.writeUInt32BE(len, 1);
    return Buffer.concat([header, this.keyring.encrypt(plain, header)]);
  }

  /** Reads one encrypted stream message; resolves with its plaintext (decompressed). */
  private readFrame(sock: net.Socket): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const done = (err: Error | undefined, out?: Buffer) => {
        sock.off('data', onData);
        sock.off('error', onError);
        sock.off('end', onEnd);
        if (err) reject(err);
        else resolve(out!);
      };
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < STREAM_HEADER_BYTES) return;
        if (buf[0] !== MSG.encrypt) return done(new GossipError('E_GOSSIP_CRYPTO', `the peer's stream is not encrypted (message type ${buf[0]})`));
        const len = buf.readUInt32BE(1);
        if (len > MAX_STREAM_BYTES) return done(new GossipError('E_GOSSIP_PROTOCOL', `stream message of ${len} bytes is over the limit`));
        if (buf.length < STREAM_HEADER_BYTES + len) return;
        try {
          let plain = this.keyring.decrypt(buf.subarray(STREAM_HEADER_BYTES, STREAM_HEADER_BYTES + len), buf.subarray(0, STREAM_HEADER_BYTES));
          if (plain[0] === MSG.compress) {
            const c = asMap(decodeMsgpack(plain, 1).value);
            plain = lzwDecompress(asBytes(c.Buf), MAX_DECOMPRESSED_BYTES);
          }
          done(undefined, plain);
        } catch (err) {
          done(err as Error);
        }
      };
      const onError = (err: Error) => done(new GossipError('E_GOSSIP_IO', err.message, { cause: err }));
      const onEnd = () => done(new GossipError('E_GOSSIP_IO', 'the peer closed the stream before a whole message'));
      sock.on('data', onData);
      sock.on('error', onError);
      sock.on('end', onEnd);
    });
  }

  private request(address: string, port: number, plain: Buffer, expectReply = true): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const sock = net.connect({ host: address, port });
      sock.setTimeout(STREAM_TIMEOUT_MS, () => sock.destroy(new GossipError('E_GOSSIP_IO', `no answer from ${address}:${port} in ${STREAM_TIMEOUT_MS} ms`)));
      sock.once('error', (err) => reject(err instanceof GossipError ? err : new GossipError('E_GOSSIP_IO', `${address}:${port}: ${err.message}`, { cause: err })));
      sock.once('connect', () => {
        sock.write(this.streamFrame(plain));
        if (!expectReply) {
          sock.end(() => resolve(Buffer.alloc(0)));
          return;
        }
        this.readFrame(sock).then(
          (b) => {
            sock.end();
            resolve(b);
          },
          (err: Error) => {
            sock.destroy();
            reject(err);
          },
        );
      });
    });
  }

  private onStream(sock: net.Socket): void {
    this.counters.streamsIn++;
    sock.setTimeout(STREAM_TIMEOUT_MS, () => sock.destroy());
    sock.on('error', () => undefined);
    this.readFrame(sock).then(
      (plain) => {
        let replied = false;
        const reply = (b: Buffer) => {
          replied = true;
          sock.end(this.streamFrame(b));
        };
        try {
          this.handle(plain, sock.remoteAddress ?? '', sock.remotePort ?? 0, reply, 0);
        } catch (err) {
          this.log('debug', 'gossip stream dropped', { from: sock.remoteAddress, err: (err as Error).message });
        }
        if (!replied) sock.end();
      },
      (err: Error) => {
        this.counters.dropped++;
        this.log('debug', 'gossip stream unreadable', { from: sock.remoteAddress, err: err.message });
        sock.destroy();
      },
    );
  }
}

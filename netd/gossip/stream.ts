// Reading one memberlist stream frame ([10][u32 BE L][L bytes of vsn+nonce+ciphertext+tag],
// facts §1.6) from a peer that may be hostile. Everything before the GCM tag checks out is
// unauthenticated, so the declared length is capped before anything is allocated, the body
// buffer is allocated once (no re-concatenation per chunk: a trickling peer costs nothing),
// and every way of being dropped has a reason the member counts.
import { performance } from 'node:perf_hooks';
import { BerthError } from '../../base/index.js';

export const STREAM_HEADER_BYTES = 5;
const ENCRYPT_TYPE = 10;
/** Encryption version, nonce and tag: the smallest body an encrypted frame can have. */
const MIN_BODY_BYTES = 1 + 12 + 16;

/** Why a packet or stream was thrown away (the keys of MemberlistStats.drops). */
export type DropReason = 'decrypt' | 'malformed' | 'oversize' | 'decompressCap' | 'nestedCompress' | 'streamDeadline' | 'streamCap';

/** A packet or stream refused on purpose; `reason` says which limit or check refused it. */
export class GossipDropError extends BerthError {
  declare readonly code: 'E_GOSSIP_DROP';
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super('E_GOSSIP_DROP', message);
  }
}

/** Frames smaller than this are allocated as they come: they die young, in a scavenge. */
const POOLED_MIN_BYTES = 128 * 1024;
/** Free buffers kept: one exchange sends one frame while it reads one. */
const POOLED_MAX_FREE = 2;
/** A free buffer unused this long is released: an exchange's frames reuse each other's memory,
 *  and between exchanges (a bulk sync every 30 s each way) none is held. */
const POOLED_IDLE_MS = 5_000;
/** Room a new pooled buffer gets past the frame it is made for, so the next, slightly larger sync fits. */
const POOLED_HEADROOM = 1.125;
const POOLED_ROUND_BYTES = 64 * 1024;

/** ES2024's ArrayBuffer.prototype.transfer (Node 21+), not in the ES2023 lib this project types against. */
type Transferable = ArrayBuffer & { transfer?: (newLength?: number) => ArrayBuffer };

/** Frees a buffer's memory now: transferring it to a zero-length buffer detaches it, and a
 *  detached ArrayBuffer drops its backing store. Without transfer (Node 20) V8's GC frees it. */
function release(buf: Buffer): void {
  (buf.buffer as Transferable).transfer?.(0);
}

/**
 * Buffers for large stream frames, kept for the next one and released when done with. A bulk
 * sync's frames (megabytes at thousands of endpoints, each way every 30 s) are held across the
 * socket's many reads or writes, so they outlive scavenges and wait for a full GC; made anew each
 * time, their memory piled up between full GCs and those GCs ran on schedule with the syncs. A
 * frame's buffer is given back as soon as it was decrypted, or written: nothing keeps a view of
 * it (the plaintext is a buffer of its own). The frames of one exchange reuse each other's
 * memory; a free buffer unused for POOLED_IDLE_MS, or one past POOLED_MAX_FREE, is released: its
 * ArrayBuffer is detached, which frees the memory at once (agentd's malloc maps large blocks, so
 * it goes back to the kernel) instead of at V8's next full GC. Kept until the next exchange, two
 * frames of a 10,000-endpoint network held ~9 MB for good. A buffer never given back (a stream
 * that failed mid-frame) is just garbage.
 */
export class FramePool {
  private free: Array<{ buf: Buffer; since: number }> = [];
  private readonly taken = new WeakSet<ArrayBuffer>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** `len` bytes: a view of a free pooled buffer that holds them, else a new buffer. */
  take(len: number): Buffer {
    if (len < POOLED_MIN_BYTES) return Buffer.allocUnsafe(len);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) if (this.free[i]!.buf.length >= len && (best < 0 || this.free[i]!.buf.length < this.free[best]!.buf.length)) best = i;
    const buf = best >= 0 ? this.free.splice(best, 1)[0]!.buf : Buffer.allocUnsafeSlow(Math.ceil((len * POOLED_HEADROOM) / POOLED_ROUND_BYTES) * POOLED_ROUND_BYTES);
    this.taken.add(buf.buffer as ArrayBuffer);
    return buf.subarray(0, len);
  }

  /** Gives back a buffer from take(); the caller keeps no view of it. Others are ignored. */
  give(view: Buffer): void {
    const ab = view.buffer as ArrayBuffer;
    if (!this.taken.delete(ab)) return;
    this.free.push({ buf: Buffer.from(ab, 0, ab.byteLength), since: this.now() });
    if (this.free.length > POOLED_MAX_FREE) {
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.buf.length < this.free[smallest]!.buf.length) smallest = i;
      release(this.free.splice(smallest, 1)[0]!.buf);
    }
  }

  /** Releases free buffers unused for POOLED_IDLE_MS. */
  trim(): void {
    const now = this.now();
    if (!this.free.some((f) => now - f.since >= POOLED_IDLE_MS)) return;
    const keep: typeof this.free = [];
    for (const f of this.free) {
      if (now - f.since < POOLED_IDLE_MS) keep.push(f);
      else release(f.buf);
    }
    this.free = keep;
  }

  /** Bytes held by free buffers. */
  get freeBytes(): number {
    return this.free.reduce((n, f) => n + f.buf.length, 0);
  }
}

/** Collects one frame from stream chunks; `push` returns the header and body once complete. */
export class FrameReader {
  private readonly header = Buffer.alloc(STREAM_HEADER_BYTES);
  private headerLen = 0;
  private body: Buffer | undefined;
  private bodyLen = 0;

  /** The body comes from `pool` when one is given: give it back once done with it. */
  constructor(
    private readonly maxBodyBytes: number,
    private readonly pool?: FramePool,
  ) {}

  /** Bytes after the frame in the same chunk are ignored: a connection carries one message. */
  push(chunk: Buffer): { header: Buffer; body: Buffer } | undefined {
    let at = 0;
    if (this.headerLen < STREAM_HEADER_BYTES) {
      const n = Math.min(STREAM_HEADER_BYTES - this.headerLen, chunk.length);
      chunk.copy(this.header, this.headerLen, 0, n);
      this.headerLen += n;
      at = n;
      if (this.headerLen < STREAM_HEADER_BYTES) return undefined;
      if (this.header[0] !== ENCRYPT_TYPE) throw new GossipDropError('decrypt', `the peer's stream is not encrypted (message type ${this.header[0]})`);
      const len = this.header.readUInt32BE(1);
      if (len > this.maxBodyBytes) throw new GossipDropError('oversize', `stream message of ${len} bytes is over the ${this.maxBodyBytes}-byte limit`);
      if (len < MIN_BODY_BYTES) throw new GossipDropError('malformed', `stream message of ${len} bytes is too short to be encrypted`);
      this.body = this.pool ? this.pool.take(len) : Buffer.allocUnsafe(len);
    }
    const body = this.body!;
    const n = Math.min(body.length - this.bodyLen, chunk.length - at);
    chunk.copy(body, this.bodyLen, at, at + n);
    this.bodyLen += n;
    return this.bodyLen === body.length ? { header: this.header, body } : undefined;
  }
}

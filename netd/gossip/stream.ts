// Reading one memberlist stream frame ([10][u32 BE L][L bytes of vsn+nonce+ciphertext+tag],
// facts §1.6) from a peer that may be hostile. Everything before the GCM tag checks out is
// unauthenticated, so the declared length is capped before anything is allocated, the body
// buffer is allocated once (no re-concatenation per chunk: a trickling peer costs nothing),
// and every way of being dropped has a reason the member counts.
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

/** Collects one frame from stream chunks; `push` returns the header and body once complete. */
export class FrameReader {
  private readonly header = Buffer.alloc(STREAM_HEADER_BYTES);
  private headerLen = 0;
  private body: Buffer | undefined;
  private bodyLen = 0;

  constructor(private readonly maxBodyBytes: number) {}

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
      this.body = Buffer.allocUnsafe(len);
    }
    const body = this.body!;
    const n = Math.min(body.length - this.bodyLen, chunk.length - at);
    chunk.copy(body, this.bodyLen, at, at + n);
    this.bodyLen += n;
    return this.bodyLen === body.length ? { header: this.header, body } : undefined;
  }
}

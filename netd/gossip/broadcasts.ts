// memberlist's TransmitLimitedQueue for its own alive/suspect/dead messages (broadcast.go,
// queue.go): each message rides along on gossip and probe packets until it has been sent
// RetransmitMult × ceil(log10(n+1)) times; the least-sent go first, the newest among equals;
// a newer message about a node replaces the one queued for it.
import { retransmitLimit } from './suspicion.js';

interface Queued {
  node: string;
  msg: Buffer;
  transmits: number;
  id: number;
}

export class BroadcastQueue {
  private items: Queued[] = [];
  private nextId = 0;

  constructor(
    private readonly retransmitMult: number,
    private readonly numNodes: () => number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  queue(node: string, msg: Buffer): void {
    this.items = this.items.filter((q) => q.node !== node);
    this.items.push({ node, msg, transmits: 0, id: this.nextId++ });
  }

  /** Messages that fit in `limit` bytes with `overhead` each; each one taken counts a transmit. */
  take(overhead: number, limit: number): Buffer[] {
    if (this.items.length === 0) return [];
    const max = retransmitLimit(this.retransmitMult, this.numNodes());
    this.items.sort((a, b) => a.transmits - b.transmits || b.id - a.id);
    const out: Buffer[] = [];
    let used = 0;
    for (const q of this.items) {
      if (used + overhead + q.msg.length > limit) continue;
      used += overhead + q.msg.length;
      out.push(q.msg);
      q.transmits++;
    }
    this.items = this.items.filter((q) => q.transmits < max);
    return out;
  }
}

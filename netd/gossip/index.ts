// The node's place in the cluster's gossip: memberlist + NetworkDB, started once the manager
// has sent the gossip keys, joined through the managers' addresses on the gossip port, kept
// joined (rejoin when alone, periodic push-pull), re-keyed when the manager rotates the keys.
import { randomBytes } from 'node:crypto';
import { Keyring, Memberlist, type MemberlistStats } from './memberlist.js';
import { NetworkDb, type NetworkDbOptions, type NetworkDbStats } from './networkdb.js';
import type { LogFn } from '../../base/index.js';

export { NetworkDb, OVERLAY_PEER_TABLE, ENDPOINT_TABLE, type NetworkDbOptions, type NetworkDbStats, type TableChange } from './networkdb.js';
export { decodeEndpointRecord, endpointRecord, type EndpointRecord, type IngressPort } from './messages.js';

const GOSSIP_PORT = 7946;
const GOSSIP_SUBSYSTEM = 'networking:gossip';
/** Push-pull with a random member this often (Docker: 30 s); rejoin the managers when alone. */
const MAINTAIN_MS = 10_000;

export interface NetworkKey {
  subsystem: string;
  key: Buffer;
  lamportTime: bigint;
}

/**
 * The gossip keyring from the manager's network bootstrap keys, in libnetwork's order: sorted
 * by lamport time with the first two swapped, so the second-oldest key encrypts (every node
 * then holds the key it encrypts with before anyone uses the newest).
 */
export function gossipKeys(keys: readonly NetworkKey[]): Buffer[] {
  const sorted = keys.filter((k) => k.subsystem === GOSSIP_SUBSYSTEM).sort((a, b) => (a.lamportTime < b.lamportTime ? -1 : a.lamportTime > b.lamportTime ? 1 : 0));
  if (sorted.length >= 2) [sorted[0], sorted[1]] = [sorted[1]!, sorted[0]!];
  return sorted.map((k) => k.key);
}

export interface GossipOptions {
  advertiseAddress: string;
  bindAddress?: string;
  port?: number;
  /** Gossip addresses to join: the managers' hosts. */
  seeds: () => string[];
  log: LogFn;
  /** NetworkDB's intervals (reap, bulk sync, settle window); libnetwork's by default. */
  networkdb?: NetworkDbOptions;
}

export interface GossipStats {
  node: string;
  members: number;
  memberlist: MemberlistStats;
  networkdb: NetworkDbStats;
}

export class Gossip {
  /** memberlist names are random per start, as Docker's. */
  readonly nodeName = randomBytes(6).toString('hex');
  readonly db: NetworkDb;
  private ml: Memberlist | undefined;
  private keys: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private readonly pending = new Set<Promise<unknown>>();
  private startedSignal!: () => void;
  private readonly started = new Promise<void>((r) => (this.startedSignal = r));

  constructor(private readonly opts: GossipOptions) {
    this.db = new NetworkDb(this.nodeName, opts.log, opts.networkdb);
  }

  get running(): boolean {
    return this.ml !== undefined;
  }

  stats(): GossipStats | undefined {
    if (!this.ml) return undefined;
    return { node: this.nodeName, members: this.ml.alive().length, memberlist: this.ml.stats(), networkdb: this.db.stats() };
  }

  /** Every peer memberlist knows (dead and left ones until forgotten); [] until the gossip runs. */
  members(): Array<{ name: string; address: string; port: number; state: 'alive' | 'suspect' | 'dead' | 'left'; incarnation: number }> {
    const states = ['alive', 'suspect', 'dead', 'left'] as const;
    return (this.ml?.allMembers() ?? []).map((m) => ({ name: m.name, address: m.address, port: m.port, state: states[m.state] ?? 'left', incarnation: m.incarnation }));
  }

  /** New keys from the manager: start with them, or re-key. */
  setKeys(keys: readonly NetworkKey[]): void {
    const next = gossipKeys(keys);
    if (next.length === 0) return;
    if (next.length === this.keys.length && next.every((k, i) => k.equals(this.keys[i]!))) return;
    this.keys = next;
    if (this.ml) {
      this.ml.setKeyring(new Keyring(next));
      return;
    }
    this.starting ??= this.start().catch((err: Error) => {
      this.starting = undefined;
      this.opts.log('warn', 'gossip did not start; overlays reach only this node', { err: err.message });
    });
  }

  /** Resolves once gossip runs (or failed to start). */
  ready(): Promise<void> {
    return this.starting ?? Promise.resolve();
  }

  /** Resolves once gossip runs; never when the manager sends no keys. */
  whenStarted(): Promise<void> {
    return this.started;
  }

  /**
   * This node is on `network` (its first local endpoint there): the JOIN goes out and the
   * network's tables are bulk-synced. Waits for the gossip to start; tracked for settled().
   * Joining again after leaveNetwork works (a new, later join).
   */
  joinNetwork(network: string): Promise<void> {
    return this.track(this.started.then(() => this.db.joinNetwork(network)));
  }

  /**
   * This node's last local endpoint on `network` is gone (withdraw it first): our entries there
   * become tombstones, others' entries are dropped here, and the LEAVE goes to every member
   * (best effort, then by push-pull). Nothing to do before the gossip has started.
   */
  leaveNetwork(network: string): Promise<void> {
    if (!this.running) return Promise.resolve();
    return this.db.leaveNetwork(network).catch((err: Error) => this.opts.log('debug', 'gossip network leave incomplete', { network, err: err.message }));
  }

  /** Work (a network join, its bulk sync) that settled() waits for. */
  track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Resolves once gossip has started and every tracked join has finished — the remote
   * endpoints are back — or after `capMs` (no keys from the manager, no peers answering).
   * A restarted agentd's first reconcile waits for this, or it would take the remote
   * entries still carrying traffic for stale ones.
   */
  async settled(capMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((r) => (timer = setTimeout(r, capMs)));
    const work = (async () => {
      await this.started;
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
      // What the joins brought back goes to the watchers now, not a settle window later: the
      // caller (the first reconcile) would otherwise take those endpoints for stale ones.
      this.db.flushChanges();
    })();
    await Promise.race([cap, work]);
    clearTimeout(timer);
  }

  private async start(): Promise<void> {
    const ml = new Memberlist({
      name: this.nodeName,
      bindAddress: this.opts.bindAddress ?? this.opts.advertiseAddress,
      advertiseAddress: this.opts.advertiseAddress,
      port: this.opts.port ?? GOSSIP_PORT,
      keyring: new Keyring(this.keys),
      delegate: this.db,
      log: this.opts.log,
    });
    await ml.start();
    this.db.attach(ml);
    this.ml = ml;
    this.opts.log('info', 'gossip on', { node: this.nodeName, address: `${this.opts.advertiseAddress}:${this.opts.port ?? GOSSIP_PORT}` });
    await this.maintain();
    this.startedSignal();
    this.timer = setInterval(() => void this.maintain(), MAINTAIN_MS);
    this.timer.unref();
  }

  private async maintain(): Promise<void> {
    const ml = this.ml;
    if (!ml) return;
    const alive = ml.alive();
    if (alive.length === 0) {
      const seeds = this.opts.seeds().filter((s) => s !== this.opts.advertiseAddress);
      try {
        const n = await ml.join(seeds.map((address) => ({ address, port: this.opts.port ?? GOSSIP_PORT })));
        this.opts.log('info', 'gossip joined', { via: seeds, answered: n, members: ml.alive().length });
      } catch (err) {
        this.opts.log('warn', 'gossip join failed; retrying', { err: (err as Error).message, retryMs: MAINTAIN_MS });
      }
      return;
    }
    const peer = alive[Math.floor(Math.random() * alive.length)]!;
    await ml.pushPull(peer.address, peer.port, false).catch((err: Error) => this.opts.log('debug', 'gossip push-pull failed', { peer: peer.name, err: err.message }));
  }

  /**
   * Stops gossiping without announcing a leave: agentd stopping leaves its tasks running, and
   * the other nodes keep sending to them until they time this node out — by then a restarted
   * agentd has announced them again.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.starting?.catch(() => undefined);
    this.db.close();
    await this.ml?.close({ leave: false });
    this.ml = undefined;
  }
}

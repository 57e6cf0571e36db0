// The one object the agent holds: a name table, a forwarder to the host's resolvers, the
// server between them, and a listener pair per sandbox. The node's network controller writes
// names through `records` (its own tasks, and other nodes' endpoints from the cluster's gossip)
// and opens/closes sandboxes; the table itself is private (the server reads it as a NameLookup).
import { Forwarder, type ForwarderOptions } from './forwarder.js';
import { emptyListenerStats, openSandboxListener, type ListenerOptions, type ListenerStats, type SandboxListener } from './listener.js';
import { NameTable, type NameTableOptions, type NetworkId, type SandboxId } from './name-table.js';
import { NameRegistry, type NameRecords, type RecordStats } from './records.js';
import { hostUpstreams, type Upstream } from './resolv-conf.js';
import { DnsServer, type DnsStats } from './server.js';
import type { ForwarderStats } from './forwarder.js';
import { dnsForwardEvents } from './events.js';

/** The forwarder, timing each forwarded query for observers (dns/events.ts) while anyone listens. */
class TimedForwarder extends Forwarder {
  override forward(...args: Parameters<Forwarder['forward']>): ReturnType<Forwarder['forward']> {
    if (!dnsForwardEvents.hasSubscribers) return super.forward(...args);
    const t0 = performance.now();
    return super.forward(...args).then((reply) => {
      dnsForwardEvents.publish({ ms: performance.now() - t0, answered: reply !== undefined });
      return reply;
    });
  }
}

export interface EmbeddedDnsOptions extends NameTableOptions, Omit<ForwarderOptions, 'upstreams'> {
  /** Default: the host's resolvers (resolv.conf, or the upstreams behind a loopback stub). */
  upstreams?: readonly Upstream[];
  resolvConfPath?: string;
  listen?: ListenerOptions;
}

export interface EmbeddedDnsStats {
  server: DnsStats;
  forwarder: ForwarderStats;
  /** Sandboxes with listeners open. */
  sandboxes: number;
  /** TCP connections, and how often a pipelining client was held at the cap. */
  listeners: ListenerStats;
  /** Names held, and records refused (by reason). */
  records: RecordStats;
}

export class EmbeddedDns {
  /** Where the network controller writes names: tasks, their services' records, networks. */
  readonly records: NameRecords;
  readonly server: DnsServer;
  readonly forwarder: Forwarder;
  private readonly table: NameTable;
  private readonly registry: NameRegistry;
  private readonly listenOpts: ListenerOptions;
  private readonly listeners = new Map<SandboxId, Promise<SandboxListener>>();
  private readonly listenerStats = emptyListenerStats();

  private constructor(table: NameTable, forwarder: Forwarder, listen: ListenerOptions) {
    this.table = table;
    this.registry = new NameRegistry(table);
    this.records = this.registry;
    this.forwarder = forwarder;
    this.server = new DnsServer({ names: table, forwarder });
    this.listenOpts = listen;
  }

  static async create(opts: EmbeddedDnsOptions = {}): Promise<EmbeddedDns> {
    const upstreams = opts.upstreams ?? (await hostUpstreams(opts.resolvConfPath));
    const table = new NameTable(opts);
    return new EmbeddedDns(table, new TimedForwarder({ ...opts, upstreams }), opts.listen ?? {});
  }

  /**
   * Registers the sandbox's networks and opens its listeners; names resolve from inside it as
   * soon as this resolves. Idempotent per sandbox id (re-entered after an agent restart).
   */
  async openSandbox(id: SandboxId, netnsPath: string, networkIds: readonly NetworkId[]): Promise<SandboxListener> {
    this.table.setSandbox({ id, networkIds });
    let l = this.listeners.get(id);
    if (!l) {
      l = openSandboxListener(this.server, id, netnsPath, this.listenOpts, this.listenerStats);
      this.listeners.set(id, l);
      l.catch(() => this.listeners.delete(id));
    }
    return l;
  }

  /** Closes the sandbox's listeners and forgets its scope. */
  async closeSandbox(id: SandboxId): Promise<void> {
    const l = this.listeners.get(id);
    this.listeners.delete(id);
    this.table.removeSandbox(id);
    if (l) await (await l.catch(() => undefined))?.close();
  }

  stats(): EmbeddedDnsStats {
    return { server: this.server.stats(), forwarder: this.forwarder.stats(), sandboxes: this.listeners.size, listeners: { ...this.listenerStats }, records: this.registry.stats() };
  }

  async close(): Promise<void> {
    const ids = [...this.listeners.keys()];
    await Promise.all(ids.map((id) => this.closeSandbox(id)));
    this.forwarder.close();
  }
}


// berth's host rules: one nftables table `ip berth` in the host namespace carrying the gateway
// bridge's masquerade and forwarding and every published port (routing mesh and mode=host),
// rewritten whole in one `nft -f -` per change; BERTH-FORWARD in iptables only when Docker's
// FORWARD policy would drop what the table accepts; a reservation socket per published port.
// Nothing of anyone else's (tables, chains, rules) is read for changing or touched.
//
// Also the sandbox side of the routing mesh: setSandboxRedirects, Docker's `redirector`.
import { NetdError, NetdValidationError } from '../errors.js';
import { runNft } from '../nft.js';
import { ensureForwardAccepts, removeForwardAccepts } from './iptables.js';
import { release, reserve, type Reservation } from './reserve.js';
import {
  DEFAULT_BRIDGE_NAME,
  DEFAULT_SUBNET,
  checkAddress,
  checkBridgeName,
  deleteTableScript,
  hostRulesScript,
  normalizeSubnet,
  sandboxRedirectScript,
  validatePublished,
  validateRedirects,
  type PublishedPort,
  type SandboxRedirect,
} from './rules.js';

export { FORWARD_CHAIN, forwardAccepts, forwardPolicy } from './iptables.js';
export {
  DEFAULT_BRIDGE_NAME,
  DEFAULT_SUBNET,
  TABLE,
  deleteTableScript,
  hostRulesScript,
  publishedRules,
  sandboxRedirectScript,
  validatePublished,
  validateRedirects,
  type HostRulesState,
  type Protocol,
  type PublishedPort,
  type SandboxRedirect,
} from './rules.js';

const SELF_NETNS = '/proc/self/ns/net';

export interface HostRulesOptions {
  /** The gateway bridge (GatewayBridge.bridgeName); default berth_gwbridge. */
  bridgeName?: string;
  /** The gateway bridge's subnet (GatewayBridge.subnet); default 172.31.0.0/16. */
  subnet?: string;
  /** The host namespace; default this process's. */
  hostNetns?: string;
}

function reservationKey(p: { protocol: string; port: number }): string {
  return `${p.protocol}/${p.port}`;
}

export class HostRules {
  readonly bridgeName: string;
  readonly subnet: string;
  private readonly hostNetns: string | undefined;
  private ports: PublishedPort[] = [];
  private ingressAddress: string | undefined;
  private readonly reservations = new Map<string, Reservation>();
  /** The iptables FORWARD check ran since the last ensure()/cleanup(). */
  private forwardChecked = false;
  private closed = false;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(opts: HostRulesOptions = {}) {
    this.bridgeName = opts.bridgeName ?? DEFAULT_BRIDGE_NAME;
    checkBridgeName(this.bridgeName);
    this.subnet = normalizeSubnet(opts.subnet ?? DEFAULT_SUBNET);
    this.hostNetns = opts.hostNetns;
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new NetdError('E_CLOSED', 'host rules are closed');
  }

  private nftOpts(): { netnsPath?: string } {
    return this.hostNetns ? { netnsPath: this.hostNetns } : {};
  }

  private script(ports: readonly PublishedPort[], ingressAddress: string | undefined): string {
    return hostRulesScript({ bridgeName: this.bridgeName, subnet: this.subnet, ingressAddress, ports });
  }

  private async write(ports: readonly PublishedPort[], ingressAddress: string | undefined): Promise<void> {
    await runNft(this.script(ports, ingressAddress), this.nftOpts());
    if (!this.forwardChecked) {
      await ensureForwardAccepts(this.bridgeName, this.hostNetns);
      this.forwardChecked = true;
    }
  }

  /**
   * Rewrites the table from the current state and checks Docker's FORWARD policy again; for
   * start-up and the reconciler (Docker may have started after berth). Idempotent.
   */
  async ensure(): Promise<void> {
    this.assertOpen();
    return this.locked(async () => {
      this.forwardChecked = false;
      await this.write(this.ports, this.ingressAddress);
    });
  }

  /**
   * Makes the published ports exactly `ports`. Validates everything, then reserves the new
   * ports, and only then changes the rules; on any failure nothing changed. Throws
   * NetdValidationError (E_INVALID_PORT, E_PORT_CONFLICT) naming the port.
   */
  async setPublished(ports: readonly PublishedPort[]): Promise<void> {
    this.assertOpen();
    const wanted = validatePublished(ports);
    return this.locked(async () => {
      const opened: Reservation[] = [];
      try {
        const keys = new Set(wanted.map(reservationKey));
        for (const p of wanted) {
          const key = reservationKey(p);
          if (this.reservations.has(key) || opened.some((r) => reservationKey(r) === key)) continue;
          opened.push(await reserve(this.hostNetns ?? SELF_NETNS, p.protocol, p.port));
        }
        await this.write(wanted, this.ingressAddress);
        for (const r of opened) this.reservations.set(reservationKey(r), r);
        opened.length = 0;
        for (const [key, r] of this.reservations) {
          if (!keys.has(key)) {
            release(r);
            this.reservations.delete(key);
          }
        }
        this.ports = wanted;
      } finally {
        for (const r of opened) release(r);
      }
    });
  }

  /** Ports and the ingress address in one write (no moment with one but not the other). */
  async setState(ports: readonly PublishedPort[], ingressAddress: string | undefined): Promise<void> {
    this.assertOpen();
    if (ingressAddress !== undefined) checkAddress(ingressAddress, 'ingress address');
    const previous = this.ingressAddress;
    this.ingressAddress = ingressAddress;
    try {
      await this.setPublished(ports);
    } catch (err) {
      this.ingressAddress = previous;
      throw err;
    }
  }

  /** Where ingress-mode ports are DNAT-ed (the ingress namespace's gateway-bridge address); undefined: nowhere yet. */
  async setIngressAddress(address: string | undefined): Promise<void> {
    this.assertOpen();
    if (address !== undefined) checkAddress(address, 'ingress address');
    return this.locked(async () => {
      await this.write(this.ports, address);
      this.ingressAddress = address;
    });
  }

  /** What is published now (validated, sorted). */
  published(): readonly PublishedPort[] {
    return this.ports;
  }

  /** Removes berth's table, its iptables chain and jump, and releases every reservation. */
  cleanup(): Promise<void> {
    return this.locked(async () => {
      await runNft(deleteTableScript(), this.nftOpts());
      await removeForwardAccepts(this.hostNetns);
      this.forwardChecked = false;
      this.releaseAll();
      this.ports = [];
      this.ingressAddress = undefined;
    });
  }

  /** Releases the reservation sockets; the rules stay (published ports keep working). */
  close(): Promise<void> {
    return this.locked(async () => {
      this.closed = true;
      this.releaseAll();
    });
  }

  private releaseAll(): void {
    for (const r of this.reservations.values()) release(r);
    this.reservations.clear();
  }
}

/**
 * Inside a task's sandbox on the ingress network: traffic to the task's ingress address on a
 * published port goes to the target port (Docker's redirector: nat PREROUTING -d <task ingress
 * IP> --dport <published> -j REDIRECT --to-port <target>). Replaces the sandbox's `ip berth`
 * table atomically; an empty list removes it.
 */
export async function setSandboxRedirects(netnsPath: string, redirects: readonly SandboxRedirect[]): Promise<void> {
  if (typeof netnsPath !== 'string' || netnsPath === '') throw new NetdValidationError('E_INVALID_ATTACHMENT', `sandbox namespace path ${JSON.stringify(netnsPath)} must be a path`);
  const clean = validateRedirects(redirects);
  await runNft(sandboxRedirectScript(clean), { netnsPath });
}

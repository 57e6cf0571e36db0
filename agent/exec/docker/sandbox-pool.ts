// Warm sandboxes for tasks without networks. Most of a container start on the engine is making
// its network namespace (the netns, libnetwork's setkey hook re-executing dockerd, the bridge
// join); a container that joins a running container's namespace (`container:<id>`) skips all
// of it (`npm run bench -- engine-netmode`: 20 concurrent starts in ~0.4× the time of bridge
// ones). The pool keeps `size` pause containers running on the engine's default bridge, made
// while the node is idle; a task without networks takes one (renamed to its sandboxName(), so
// removal, adoption and orphan cleanup treat it as the task's sandbox) and its container joins
// it: same bridge, same egress and addresses as before, the engine's hosts and resolv.conf.
// The cost: each warm sandbox holds a pause process and a containerd shim while it waits.
// Only with `--networkless-tasks bridge` (or the data plane off): by default a task without
// networks gets a sandbox berth plumbs onto its gateway bridge, and agentd starts no pool.
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import type { LogFn } from '../../../base/index.js';
import { isStatus } from './engine.js';
import { LABEL_BERTH_NODE_ID, LABEL_BERTH_ROLE, poolSandboxLabels, poolSandboxName, ROLE_POOL } from './naming.js';

/** Refill waits until no task has taken a sandbox for this long: making sandboxes during a
 *  burst would compete with the burst's own starts for the engine. */
const REFILL_IDLE_MS = 1_000;
const REFILL_RETRY_MS = 10_000;

export interface SandboxPoolOptions {
  size: number;
  image: string;
  log?: LogFn;
}

export class SandboxPool {
  /** Ids of running pool sandboxes no task has taken. */
  private readonly warm: string[] = [];
  private nodeId: string | undefined;
  private refilling = false;
  private lastTakeAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly opts: SandboxPoolOptions,
  ) {}

  /** Adopts this node's warm sandboxes left by an earlier agentd (removing stopped ones) and fills the pool. */
  async start(nodeId: string): Promise<void> {
    if (this.nodeId !== undefined) return;
    this.nodeId = nodeId;
    const left = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_BERTH_ROLE}=${ROLE_POOL}`, `${LABEL_BERTH_NODE_ID}=${nodeId}`] } });
    for (const c of left) {
      const name = (c.Names?.[0] ?? '').replace(/^\//, '');
      // A taken one was renamed: it is a task's sandbox now, the task's to remove.
      if (!name.startsWith(poolSandboxName(nodeId, ''))) continue;
      if (c.State === 'running' && this.warm.length < this.opts.size) this.warm.push(c.Id);
      else await this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    this.schedule(0);
  }

  /** How many warm sandboxes wait now. */
  get available(): number {
    return this.warm.length;
  }

  /**
   * A warm sandbox renamed to `name`, or undefined when none is left (the task then gets its
   * own namespace from the engine, as without a pool). A sandbox already holding `name` (an
   * earlier attempt took it and then failed) is the task's: the name is returned as is.
   */
  async take(name: string): Promise<string | undefined> {
    this.lastTakeAt = Date.now();
    this.schedule(REFILL_IDLE_MS);
    for (;;) {
      const id = this.warm.shift();
      if (id === undefined) return undefined;
      try {
        await this.docker.getContainer(id).rename({ name });
        return name;
      } catch (err) {
        if (isStatus(err, 409)) {
          this.warm.unshift(id);
          return name;
        }
        // Gone or broken: drop it and try the next.
        this.opts.log?.('debug', 'a warm sandbox could not be taken; trying the next', { id: id.slice(0, 12), err: (err as Error).message });
        await this.docker.getContainer(id).remove({ force: true }).catch(() => undefined);
      }
    }
  }

  private schedule(ms: number): void {
    if (this.nodeId === undefined) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refill(), ms);
    this.timer.unref();
  }

  private async refill(): Promise<void> {
    if (this.refilling || this.nodeId === undefined) return;
    this.refilling = true;
    try {
      while (this.warm.length < this.opts.size) {
        const idleFor = Date.now() - this.lastTakeAt;
        if (idleFor < REFILL_IDLE_MS) return this.schedule(REFILL_IDLE_MS - idleFor);
        const c = await this.docker.createContainer({
          name: poolSandboxName(this.nodeId, randomBytes(6).toString('hex')),
          Image: this.opts.image,
          Labels: poolSandboxLabels(this.nodeId),
          HostConfig: { NetworkMode: 'bridge', RestartPolicy: { Name: 'no' }, LogConfig: { Type: 'none', Config: {} } },
        });
        try {
          await c.start();
        } catch (err) {
          await c.remove({ force: true }).catch(() => undefined);
          throw err;
        }
        this.warm.push(c.id);
      }
    } catch (err) {
      this.opts.log?.('warn', 'could not make a warm sandbox; tasks get their own network namespace meanwhile', { err: (err as Error).message });
      this.schedule(REFILL_RETRY_MS);
    } finally {
      this.refilling = false;
    }
  }
}

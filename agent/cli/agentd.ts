#!/usr/bin/env node
// agentd: the berth node agent. Flags > environment (BERTH_*) > config file > defaults.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { BERTH_VERSION } from '../version.js';
import { DEFAULT_CONFIG_FILE, configFromEnv, parseConfigFile, resolveConfig, type ConfigInput } from '../config.js';
import { createLogger } from '../log.js';
import { Agent, knownManagers } from '../agent.js';
import { DockerExecutor, dockerClient } from '../exec/docker/executor.js';
import { startControlServer } from '../control.js';
import { BerthError } from '../errors.js';
import type { AgentConfig } from '../config.js';
import type { LogFn } from '../log.js';
import { localAddressToward, splitHostPort } from '../advertise.js';
import { TaskNetworking, type EndpointNames } from '../networking.js';
import { OverlayDataPlane, Reconciler } from '../../netd/index.js';
import { EmbeddedDns } from '../../dns/index.js';
import { ENDPOINT_TABLE, Gossip, OVERLAY_PEER_TABLE } from '../../netd/gossip/index.js';
import { decodeEndpointRecord, endpointRecord } from '../../netd/gossip/messages.js';
import type { TaskView } from '../worker/worker.js';
import { TaskState, type TaskStateName } from '../worker/task-state.js';

/** How long the first reconcile waits for resumed tasks to be plumbed again before going ahead. */
const RESTORE_WAIT_MS = 60_000;
const RESTORE_POLL_MS = 250;
/** ...and for the gossip to bring the remote endpoints back (keys arrive with the session). */
const GOSSIP_SETTLE_MS = 15_000;

const program = new Command('agentd')
  .description('berth node agent: joins a Swarm manager and runs its tasks on this host')
  .version(BERTH_VERSION)
  .option('--join-token <token>', 'worker join token (first join only); env BERTH_JOIN_TOKEN')
  .option('--manager <addr...>', 'manager address(es) host:port; env BERTH_MANAGER (comma-separated)')
  .option('--advertise-addr <ip>', 'address other nodes reach this node at; env BERTH_ADVERTISE_ADDR')
  .option('--state-dir <dir>', 'where identity and task state live (default /var/lib/berth); env BERTH_STATE_DIR')
  .option('--docker-host <url>', 'Docker Engine (default unix:///var/run/docker.sock); env DOCKER_HOST')
  .option('--hostname <name>', 'node hostname to report; env BERTH_HOSTNAME')
  .option('--control-socket <path>', 'agentctl socket (default /run/berth/agentd.sock); env BERTH_CONTROL_SOCKET')
  .option('--log-level <level>', 'trace|debug|info|warn|error; env BERTH_LOG_LEVEL')
  .option('--netns-dir <dir>', 'where overlay namespaces are pinned (default /run/berth/netns); env BERTH_NETNS_DIR')
  .option('--no-data-plane', 'do not program overlays or serve the embedded DNS; env BERTH_DATA_PLANE=false')
  .option('--reconcile-interval <duration>', 'compare the data plane with desired state and repair drift this often, e.g. 60s, 5m; 0 = only after start (default 60s); env BERTH_RECONCILE_INTERVAL')
  .option('--config <file>', `JSON config file (default ${DEFAULT_CONFIG_FILE} if present); env BERTH_CONFIG`);

program.action(async (opts: Record<string, unknown>) => {
  const configPath = (opts.config as string | undefined) ?? process.env.BERTH_CONFIG ?? DEFAULT_CONFIG_FILE;
  const fileLayer: ConfigInput = existsSync(configPath) ? parseConfigFile(readFileSync(configPath, 'utf8'), configPath) : {};
  if (opts.config && !existsSync(configPath)) throw new BerthError('E_CONFIG_FILE', `config file ${configPath} does not exist`);
  const flagLayer: ConfigInput = {
    joinToken: opts.joinToken as string | undefined,
    managers: opts.manager as string[] | undefined,
    advertiseAddr: opts.advertiseAddr as string | undefined,
    stateDir: opts.stateDir as string | undefined,
    dockerHost: opts.dockerHost as string | undefined,
    hostname: opts.hostname as string | undefined,
    controlSocket: opts.controlSocket as string | undefined,
    logLevel: opts.logLevel as string | undefined,
    dataPlane: opts.dataPlane === false ? false : undefined,
    netnsDir: opts.netnsDir as string | undefined,
    reconcileInterval: opts.reconcileInterval as string | undefined,
  };
  const config = resolveConfig([fileLayer, configFromEnv(process.env), flagLayer]);
  const { log } = createLogger(config.logLevel, { name: 'agentd' });
  const docker = dockerClient(config.dockerHost);
  const plane = config.dataPlane ? await openNetworking(config, log) : undefined;
  const networking = plane?.networking;
  const hasBridge = (await docker.listNetworks({ filters: { name: ['bridge'] } }).catch(() => [])).some((n) => n.Name === 'bridge');
  const executor = new DockerExecutor(docker, {
    hostname: config.hostname,
    log,
    networking,
    defaultNetworkMode: hasBridge ? 'bridge' : 'none',
  });
  const agent = new Agent(config, {
    docker,
    executor,
    log,
    dataPlane: networking ? 'on' : config.dataPlane ? 'failed' : 'off',
    onNetworkKeys: (keys) => plane?.gossip.setKeys(keys),
  });
  await agent.start();
  const reconciler = plane ? new Reconciler(plane.dataPlane, { intervalMs: config.reconcileIntervalMs, ready: plane.networking.restored(agent, log).then(() => plane.gossip.settled(GOSSIP_SETTLE_MS)), log }) : undefined;
  reconciler?.start();
  const control = await startControlServer(config.controlSocket, {
    '/status': () => agent.status(),
    '/tasks': () => agent.status().tasks,
    '/gossip': () => plane?.gossip.stats() ?? null,
  });
  log('info', 'agentd running', { node: agent.nodeId, control: config.controlSocket, version: BERTH_VERSION });
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping (tasks keep running)', { signal: sig });
    void Promise.all([reconciler?.stop(), agent.stop(), control.close(), plane?.gossip.close()]).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
});

/** The overlay data plane and embedded DNS. A node that cannot program them still runs tasks
 *  (without overlay networking), and says so in its log and in agentctl status. */
async function openNetworking(config: AgentConfig, log: LogFn): Promise<{ networking: RestoringNetworking; dataPlane: OverlayDataPlane; gossip: Gossip } | undefined> {
  const managers = knownManagers(config);
  const advertise = config.advertiseAddr ?? (managers[0] ? await localAddressToward(managers[0]) : undefined);
  if (!advertise) {
    log('warn', 'data plane off: no advertise address (pass --advertise-addr)');
    return undefined;
  }
  try {
    const dataPlane = await OverlayDataPlane.open({ advertiseAddress: advertise, netnsDir: config.netnsDir });
    const dns = await EmbeddedDns.create({});
    log('info', 'data plane on', { advertise, mtu: dataPlane.mtu, vxlanPort: dataPlane.vxlanPort, reconcileIntervalMs: config.reconcileIntervalMs });
    // Endpoints of tasks on other nodes come from the cluster's gossip, which starts once the
    // manager has sent its keys.
    // Gossip runs on its own port on the managers' hosts.
    const gossip = new Gossip({ advertiseAddress: advertise, seeds: () => knownManagers(config).map((m) => splitHostPort(m)?.host ?? m), log });
    dataPlane.watch(gossip.db, (err) => log('warn', 'programming a remote endpoint failed', { err: err.message }));
    // Keys carry the gossip node name: a restarted agentd is a new gossip node whose entries
    // must not collide with its former self's, which the cluster keeps until it declares it dead.
    const gossipKey = (key: string) => createHash('sha256').update(`${gossip.nodeName}/${key}`).digest('hex');
    // Announcements wait for the gossip to start (the keys come with the session); one
    // withdrawn meanwhile is never sent.
    const wanted = new Set<string>();
    const peers = {
      publish: (network: string, key: string, ep: { ip: string; prefixLength: number; mac: string }, names: EndpointNames) => {
        wanted.add(key);
        void gossip.track(
          gossip.whenStarted().then(async () => {
            if (!wanted.has(key)) return;
            gossip.db.publishPeer(network, gossipKey(key), { ...ep, vtep: advertise });
            gossip.db.createEntry(network, ENDPOINT_TABLE, gossipKey(key), endpointRecord({ ...names, endpointIp: ep.ip, serviceDisabled: false }));
            await gossip.db.joinNetwork(network);
          }),
        );
      },
      withdraw: (network: string, key: string) => {
        wanted.delete(key);
        if (!gossip.running) return;
        gossip.db.deleteEntry(network, OVERLAY_PEER_TABLE, gossipKey(key));
        gossip.db.deleteEntry(network, ENDPOINT_TABLE, gossipKey(key));
      },
    };
    const networking = new RestoringNetworking(dataPlane, dns, log, peers);
    // Other nodes' tasks resolve by name here too (service, tasks.<svc>, task name).
    gossip.db.watchTable(ENDPOINT_TABLE, (c) => {
      if (c.kind === 'remove') return networking.removeRemote(c.key);
      // This host's former gossip self (before a restart) still announces our own tasks.
      if (gossip.db.memberAddress(c.owner) === advertise) return;
      try {
        const r = decodeEndpointRecord(c.value);
        if (!r.name || !r.serviceId || !r.endpointIp) return;
        networking.setRemote({ network: c.network, key: c.key, ip: r.endpointIp, disabled: r.serviceDisabled, names: r });
      } catch (err) {
        log('debug', 'endpoint_table entry dropped', { key: c.key, err: (err as Error).message });
      }
    });
    return { networking, dataPlane, gossip };
  } catch (err) {
    log('error', 'data plane off: opening it failed; tasks run without overlay networks', { err: (err as Error).message });
    return undefined;
  }
}

/**
 * TaskNetworking that notes which tasks have been plumbed (or let go) since start. A restarted
 * agentd hands desired state back to netd task by task, as each resumed task's runner reaches
 * start or wait; the first reconcile must wait for that, or it would take their live links (and
 * whole overlay namespaces) for stale ones and cut their traffic.
 */
class RestoringNetworking extends TaskNetworking {
  private readonly settled = new Set<string>();
  /** Only the restore needs the record; after it nothing is kept. */
  private restoring = true;

  private note(id: string): void {
    if (this.restoring) this.settled.add(id);
  }

  override wants(...args: Parameters<TaskNetworking['wants']>): boolean {
    const wants = super.wants(...args);
    if (!wants) this.note(args[0].id);
    return wants;
  }

  override async attach(...args: Parameters<TaskNetworking['attach']>): Promise<void> {
    try {
      await super.attach(...args);
    } finally {
      this.note(args[0].id);
    }
  }

  override async detach(...args: Parameters<TaskNetworking['detach']>): Promise<void> {
    try {
      await super.detach(...args);
    } finally {
      this.note(args[0].id);
    }
  }

  /**
   * Resolves once every resumed task that may own links has been through attach or detach, or
   * has ended; after RESTORE_WAIT_MS it resolves anyway (a task whose sandbox is not running
   * retries forever, and its links are dead already).
   */
  async restored(agent: Agent, log: LogFn): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const pending = agent.status().tasks.filter((t) => mayOwnLinks(t) && !this.settled.has(t.id));
      if (pending.length === 0) break;
      if (Date.now() - t0 >= RESTORE_WAIT_MS) {
        this.restoring = false;
        this.settled.clear();
        log('warn', 'data plane: resumed tasks not plumbed again in time; reconciling without them', { tasks: pending.map((t) => t.id), waitedMs: Date.now() - t0 });
        return;
      }
      await new Promise((r) => setTimeout(r, RESTORE_POLL_MS));
    }
    log('debug', 'data plane: desired state restored', { waitedMs: Date.now() - t0 });
    this.restoring = false;
    this.settled.clear();
  }
}

/** A task whose sandbox may be plumbed and whose runner will call its controller again. A task
 *  prepared but held at READY stays idle until started (which plumbs it again). */
function mayOwnLinks(t: TaskView): boolean {
  const state = TaskState[t.state as TaskStateName] as number | undefined;
  const desired = TaskState[t.desired as TaskStateName] as number | undefined;
  if (state === undefined || state < TaskState.PREPARING || state >= TaskState.COMPLETE) return false;
  return !(state === TaskState.READY && desired !== undefined && desired <= TaskState.READY);
}

program.parseAsync().catch((err: unknown) => {
  const code = err instanceof BerthError ? ` [${err.code}]` : '';
  process.stderr.write(`agentd: ${(err as Error).message}${code}\n`);
  process.exit(1);
});

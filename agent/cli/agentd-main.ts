// agentd: the berth node agent (agentd.ts is the entry point that loads this). Flags > environment (BERTH_*) > config file > defaults.
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { BERTH_VERSION } from '../version.js';
import { DEFAULT_CONFIG_FILE, EXIT_CONFIG_ERROR, configFromEnv, parseConfigFile, resolveConfig, type AgentConfig, type ConfigInput } from '../config.js';
import { createLogger, type LogFn } from '../log.js';
import { Agent, knownManagers, startingStatus } from '../agent.js';
import { AgentPhase } from '../phase.js';
import { SystemdNotifier } from '../systemd.js';
import { DockerExecutor, dockerClient } from '../exec/docker/executor.js';
import { RawResponse, startControlServer } from '../control.js';
import type { AgentMetrics } from '../metrics.js';
import { startMetricsListener } from '../metrics-http.js';
import { EarlyEvents } from '../early-events.js';
import { heartbeatEvents, taskRunningEvents } from '../events.js';
import { loadNetworkController, vipSyncEvents } from '../../netd/index.js';
import { dnsForwardEvents } from '../../dns/index.js';
import { lockStateDir } from '../state-lock.js';
import { BerthError, ConfigError } from '../errors.js';
import type { EventChannel } from '../../base/index.js';
import { localAddressToward, splitHostPort } from '../advertise.js';
import type { NetworkController } from '../../netd/index.js';
import { startupTimeline } from '../startup-timeline.js';
import { tuneAgentdMalloc } from './malloc.js';
import { startHeapReducer } from './heap-reducer.js';
import { taskEndpoint, dnsEndpoint } from '../control-endpoints.js';

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
  .option('--vip-backend <kind>', 'VIP load balancer: auto (IPVS where the kernel has it, else nftables), ipvs, nftables; env BERTH_VIP_BACKEND')
  .option('--lb-tcp-timeout <duration>', 'idle timeout of TCP connections through a VIP or published port (default 24h; IPVS default is 15m); env BERTH_LB_TCP_TIMEOUT')
  .option('--lb-udp-timeout <duration>', 'idle timeout of UDP flows through a VIP or published port (default 300s); env BERTH_LB_UDP_TIMEOUT')
  .option('--metrics-addr <host:port>', 'also serve Prometheus metrics over TCP here, e.g. 127.0.0.1:9323 (loopback only unless --metrics-allow-remote; the control socket always serves GET /metrics); env BERTH_METRICS_ADDR')
  .option('--metrics-allow-remote', 'allow a non-loopback --metrics-addr (the endpoint is unauthenticated); env BERTH_METRICS_ALLOW_REMOTE=true')
  .option('--sandbox-pool <n>', 'with --networkless-tasks bridge: keep n warm sandboxes on the engine bridge for tasks without networks: their start joins one instead of making a network namespace (default 0 = off); env BERTH_SANDBOX_POOL')
  .option('--networkless-tasks <where>', "where tasks of services without networks run: gateway (default; a sandbox berth plumbs onto its gateway bridge: egress, host rules, the embedded DNS forwarding upstream) or bridge (the engine's default bridge, docker0, as on Docker's worker); env BERTH_NETWORKLESS_TASKS")
  .option('--cleanup', "remove every kernel object berth owns on this host (overlay namespaces, load balancers, gateway bridge, host rules) and exit; run with agentd stopped")
  .option('--config <file>', `JSON config file (default ${DEFAULT_CONFIG_FILE} if present); env BERTH_CONFIG`)
  .exitOverride();

startupTimeline.mark('modulesLoaded');

program.action(async (opts: Record<string, unknown>) => {
  const configPath = (opts.config as string | undefined) ?? process.env.BERTH_CONFIG ?? DEFAULT_CONFIG_FILE;
  const fileLayer: ConfigInput = existsSync(configPath) ? parseConfigFile(readFileSync(configPath, 'utf8'), configPath) : {};
  if (opts.config && !existsSync(configPath)) throw new ConfigError('E_CONFIG_FILE', `config file ${configPath} does not exist`);
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
    vipBackend: opts.vipBackend as string | undefined,
    lbTcpTimeout: opts.lbTcpTimeout as string | undefined,
    lbUdpTimeout: opts.lbUdpTimeout as string | undefined,
    metricsAddr: opts.metricsAddr as string | undefined,
    metricsAllowRemote: opts.metricsAllowRemote === true ? true : undefined,
    sandboxPool: opts.sandboxPool as string | undefined,
    networklessTasks: opts.networklessTasks as string | undefined,
  };
  const config = resolveConfig([fileLayer, configFromEnv(process.env), flagLayer]);
  const { log } = createLogger(config.logLevel, { name: 'agentd' });
  startupTimeline.onMark((step, ms, cpuMs) => log('debug', 'start-up step done', { step, msSinceProcessStart: ms, cpuMs }));
  startupTimeline.mark('configResolved');
  if (opts.cleanup === true) {
    const NetworkController = await loadNetworkController();
    // The advertise address only names the underlay here; nothing is joined or opened on it.
    await NetworkController.cleanup({ advertiseAddress: config.advertiseAddr ?? '127.0.0.1', netnsDir: config.netnsDir, log });
    return;
  }
  const notifier = SystemdNotifier.fromEnv(process.env, log);
  notifier.start();
  installTestStallHook(log);
  tuneAgentdMalloc(log);
  startHeapReducer(log);
  // First, before networking, the engine or the state dir are touched: one agentd per state dir.
  const stateLock = lockStateDir(config.stateDir);
  process.once('exit', () => stateLock.release());
  startupTimeline.mark('stateDirLocked');
  if (stateLock.replacedStale) log('warn', 'replaced the state dir lock of an agentd that died without releasing it', { holderPid: stateLock.replacedStale.pid, lock: stateLock.path });

  // The control socket answers from here on: while the data plane opens, while the node joins
  // or retries its managers (agentctl status shows the phase, the last error, the next attempt).
  const phase = new AgentPhase();
  let agent: Agent | undefined;
  let networking: NetworkController | undefined;
  let dataPlane = config.dataPlane ? 'opening' : 'off';
  // prom-client and the collectors load once the node is Ready (or at the first scrape, or at
  // once with --metrics-addr): off the path to Ready. What is published before is held for them.
  const earlyEvents = new EarlyEvents([heartbeatEvents, taskRunningEvents, vipSyncEvents, dnsForwardEvents] as ReadonlyArray<EventChannel<object>>);
  // The doctor's facts are asked for rarely: not loaded before Ready.
  let doctorLoading: Promise<typeof import('../doctor/facts.js')> | undefined;
  const doctorFacts = () => (doctorLoading ??= import('../doctor/facts.js'));
  let metricsLoading: Promise<AgentMetrics> | undefined;
  const metrics = () =>
    (metricsLoading ??= import('../metrics.js').then(({ AgentMetrics }) => {
      const m = new AgentMetrics({
        agent: () => agent?.status() ?? startingStatus(config, phase, dataPlane),
        networking: () => networking?.status(),
        gossip: () => networking?.gossipStats(),
      });
      earlyEvents.replay();
      return m;
    }));
  const control = await startControlServer(config.controlSocket, {
    '/status': () => agent?.status() ?? startingStatus(config, phase, dataPlane),
    '/tasks': () => agent?.status().tasks ?? [],
    '/gossip': () => networking?.gossipStats() ?? null,
    '/networks': () => networking?.status() ?? null,
    '/task': (q) => taskEndpoint(q, agent, networking),
    '/vips': () => networking?.vips() ?? null,
    '/peers': (q) => networking?.peers({ endpoints: q.has('endpoints') }) ?? null,
    '/dns': (q) => dnsEndpoint(q, agent, networking),
    '/doctor': async () => (await doctorFacts()).agentdFacts(config, agent, networking, dataPlane, phase.status.state),
    '/metrics': async () => {
      const m = await (await metrics()).render();
      return new RawResponse(m.contentType, m.body);
    },
  });
  const metricsListener = config.metricsAddr
    ? await startMetricsListener(config.metricsAddr, await metrics()).catch(async (err: unknown) => {
        await control.close();
        throw err;
      })
    : undefined;
  startupTimeline.mark('controlSocketOpen');
  phase.onChange(() => notifier.status(phase.describe()));
  notifier.status(config.dataPlane ? 'starting: opening the data plane' : 'starting');

  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping (tasks keep running)', { signal: sig });
    notifier.stopping();
    void Promise.all([networking?.close(), agent?.stop(), control.close(), metricsListener?.close()]).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    const docker = dockerClient(config.dockerHost);
    const plane = await openNetworking(config, log);
    networking = plane.networking;
    dataPlane = networking ? 'on' : config.dataPlane ? 'failed' : 'off';
    // Only tasks the data plane plumbs and warm sandboxes use the image; without them it is never used.
    if (networking || config.sandboxPool > 0) {
      const { ensureSandboxImage } = await import('../exec/docker/sandbox-image.js');
      await ensureSandboxImage(docker, { log }).then(
        (r) => log(r === 'imported' ? 'info' : 'debug', r === 'imported' ? 'imported the sandbox image' : 'sandbox image present'),
        (err: BerthError) => log('error', 'no sandbox image: tasks on overlay networks (and, on the gateway bridge, tasks without networks) will fail and no warm sandbox is made until it is there', { err: err.message, code: err.code }),
      );
    }
    const hasBridge = (await docker.listNetworks({ filters: { name: ['bridge'] } }).catch(() => [])).some((n) => n.Name === 'bridge');
    // Warm sandboxes are on the engine's bridge: no task takes one while networkless tasks go on the gateway bridge.
    const sandboxPool = networking && config.networklessTasks === 'gateway' ? 0 : config.sandboxPool;
    if (sandboxPool !== config.sandboxPool) log('warn', 'no warm sandboxes: tasks without networks run on the gateway bridge; --sandbox-pool applies with --networkless-tasks bridge', { sandboxPool: config.sandboxPool });
    const executor = new DockerExecutor(docker, { hostname: config.hostname, log, networking, ...('reason' in plane ? { noNetworkingReason: plane.reason } : {}), defaultNetworkMode: hasBridge ? 'bridge' : 'none', sandboxPool });
    const node = new Agent(config, { docker, executor, log, phase, dataPlane: networking ? 'on' : config.dataPlane ? 'failed' : 'off', vipBackend: () => networking?.vipBackend(), dnsStats: () => networking?.dnsStats(), timeline: startupTimeline });
    agent = node;
    // Ready (for systemd) once a session is up and the data plane has its desired state back.
    void Promise.all([sessionUp(phase), networking?.restored()]).then(() => {
      if (stopping) return;
      notifier.markReady(`ready; ${phase.describe()}`);
      log('info', 'ready: session up, data plane restored', { state: phase.status.state });
      // Everything deferred loads now, from the files this agentd started with: a package
      // upgrade replacing them later must not mix versions in one process.
      void metrics();
      void doctorFacts();
    });
    await node.start();
    networking?.start(() => node.tasksOwningSandboxes());
    log('info', 'agentd running', { node: node.nodeId, control: config.controlSocket, version: BERTH_VERSION });
  } catch (err) {
    // A stop during the join aborts it: that is the stop, not a failure.
    if (stopping) return;
    await Promise.all([control.close(), metricsListener?.close()]);
    throw err;
  }
});

/** The first time the node has a session (connected or degraded). */
function sessionUp(phase: AgentPhase): Promise<void> {
  return new Promise((resolve) => {
    const up = (state: string) => state === 'connected' || state === 'degraded';
    if (up(phase.status.state)) resolve();
    phase.onChange((s) => {
      if (up(s.state)) resolve();
    });
  });
}

/**
 * TEST-ONLY HOOK, off unless BERTH_TEST_STALL_ON_SIGUSR2_MS is set: SIGUSR2 then blocks the event
 * loop for that many ms, as a stuck handler would, so the watchdog test can show keep-alives
 * stop. An operator never sets it; unset, SIGUSR2 keeps Node's default.
 */
function installTestStallHook(log: LogFn): void {
  const ms = Number(process.env.BERTH_TEST_STALL_ON_SIGUSR2_MS);
  delete process.env.BERTH_TEST_STALL_ON_SIGUSR2_MS;
  if (!Number.isFinite(ms) || ms <= 0) return;
  process.on('SIGUSR2', () => {
    log('warn', 'test hook: blocking the event loop', { ms });
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // busy: nothing else runs on this thread meanwhile
    }
  });
}

/** The node's networking (overlays, embedded DNS, gossip), or why there is none. A node that
 *  cannot open it still runs tasks on no overlay, and says so in its log, in agentctl status and
 *  in its description to the manager (no overlay driver); a task on an overlay fails naming it. */
async function openNetworking(config: AgentConfig, log: LogFn): Promise<{ networking: NetworkController } | { networking: undefined; reason: string }> {
  if (!config.dataPlane) return { networking: undefined, reason: "agentd's data plane is off (--no-data-plane / BERTH_DATA_PLANE=false)" };
  const managers = knownManagers(config);
  const advertiseAddress = config.advertiseAddr ?? (managers[0] ? await localAddressToward(managers[0]) : undefined);
  if (!advertiseAddress) {
    log('warn', 'data plane off: no advertise address (pass --advertise-addr)');
    return { networking: undefined, reason: "agentd's data plane failed to start: no advertise address (pass --advertise-addr)" };
  }
  // Gossip runs on its own port on the managers' hosts.
  const gossipSeeds = () => knownManagers(config).map((m) => splitHostPort(m)?.host ?? m);
  const lbTimeouts = { ...(config.lbTcpTimeoutS ? { tcp: config.lbTcpTimeoutS } : {}), ...(config.lbUdpTimeoutS ? { udp: config.lbUdpTimeoutS } : {}) };
  const NetworkController = await loadNetworkController();
  return NetworkController.open({ advertiseAddress, netnsDir: config.netnsDir, reconcileIntervalMs: config.reconcileIntervalMs, gossipSeeds, vipBackend: config.vipBackend, lbTimeouts, networklessTasks: config.networklessTasks, log }).then(
    (networking) => ({ networking }),
    (err: Error) => {
      log('error', 'data plane off: opening it failed; tasks on overlay networks fail on this node', { err: err.message });
      return { networking: undefined, reason: `agentd's data plane failed to start (${err.message}); agentd's log says more` };
    },
  );
}

program.parseAsync().catch((err: unknown) => {
  // Usage errors: commander has printed them; help and --version end here too, with 0.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_CONFIG_ERROR);
  const code = err instanceof BerthError ? ` [${err.code}]` : '';
  process.stderr.write(`agentd: ${(err as Error).message}${code}\n`);
  // A configuration error ends agentd with its own status, which the unit's
  // RestartPreventExitStatus= names: restarting cannot fix the configuration.
  process.exit(err instanceof ConfigError ? EXIT_CONFIG_ERROR : 1);
});

// The agent: identity (join once, then reuse), worker + task store, and the session loop
// that keeps one registration with a manager alive — any failure tears the session down
// and a new one is made with jittered backoff. Tasks keep running while no manager answers.
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { AgentConfig } from './config.js';
import { ConfigError, JoinError, SessionError } from './errors.js';
import type { LogFn } from './log.js';
import { joinWithToken, loadIdentity, renewCertificate, saveRootCa, tlsInfo, type NodeIdentity } from './ca/identity.js';
import { renewalDelayMs } from './ca/certificates.js';
import { Session } from './session/session.js';
import { StatusReporter } from './session/reporter.js';
import { Remotes, WEIGHT_FAILURE, WEIGHT_SUCCESS, WEIGHT_UNREACHABLE, jitteredBackoff } from './session/remotes.js';
import { Worker } from './worker/worker.js';
import { RetryingTaskStore, StateWrites, TaskStore, isIoError, type StateDirHealth } from './store/index.js';
import { isLogSource, type Executor } from './exec/executor.js';
import { runLogBroker } from './logs/index.js';
import type { NodeDescriptionIn, SessionMessage } from './proto/api.js';
import type { NetworkStatus } from '../netd/index.js';
import { writeFileAtomicSync } from './fs-atomic.js';
import { IssuanceState, NodeAvailability, NodeState, enumName } from './proto/enums.js';
import { AgentPhase, type AgentPhaseStatus } from './phase.js';
import { ClockSkew, type ClockSkewEstimate } from './clock-skew.js';
import { AssignmentsType, TaskState } from './proto/enums.js';
import type { AssignmentsMessage } from './proto/api.js';
import type { TaskDetail } from './worker/worker.js';
import { StartupTimeline, type StartupTimings } from './startup-timeline.js';

export const SESSION_BACKOFF_INITIAL_MS = 100;
export const SESSION_BACKOFF_MAX_MS = 8_000;
const JOIN_BACKOFF_INITIAL_MS = 500;
const JOIN_BACKOFF_MAX_MS = 10_000;
const RENEW_RETRY_MS = 30_000;

const MANAGERS_FILE = 'managers.json';

/** Managers to try: the configured ones first, then those the last session listed (saved). */
export function knownManagers(config: Pick<AgentConfig, 'managers' | 'stateDir'>): string[] {
  const path = join(config.stateDir, MANAGERS_FILE);
  const saved = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as string[]) : [];
  return [...config.managers, ...saved.filter((m) => !config.managers.includes(m))];
}

/**
 * Removes containers and task directories of tasks the store no longer has (e.g. removed while
 * agentd was down, or created just before a crash). Not after an open that may have lost
 * stored tasks: their containers would look orphaned and running workloads would be killed.
 */
export async function cleanupOrphans(
  store: Pick<RetryingTaskStore, 'list' | 'recoveryLoss'>,
  executor: Pick<Executor, 'cleanupOrphans'>,
  nodeId: string,
  log: LogFn,
): Promise<void> {
  const loss = store.recoveryLoss();
  if (loss !== undefined) {
    log('warn', 'not removing task resources the store does not list: the task store may have lost tasks whose containers still run', { reason: loss });
    return;
  }
  try {
    const removed = await executor.cleanupOrphans?.(new Set(store.list().map((r) => r.id)), nodeId);
    if (removed && (removed.containers.length > 0 || removed.taskDirs.length > 0)) {
      log('info', 'removed resources of tasks this node no longer has', { ...removed });
    }
  } catch (err) {
    log('warn', 'cleaning up orphaned task resources failed', { err: (err as Error).message });
  }
}

export interface AgentStatus {
  /** Where the node stands with its managers: joining, retrying (why, next attempt), connected, degraded. */
  state: AgentPhaseStatus;
  /** '' until the node has joined (and the fields below that come from its identity). */
  nodeId: string;
  hostname: string;
  clusterId: string;
  role: string;
  manager: string | undefined;
  connected: boolean;
  sessionId: string;
  availability: string;
  nodeState: string;
  managers: string[];
  certificate: { notAfter: string; renewAt: string | undefined; fingerprint: string };
  /** startup: when each start-up step finished, ms since the process started; startupCpu: the
   *  process's CPU ms by then (startup-timeline.ts). */
  timings: { joinMs: number | undefined; sessionOpenMs: number; heartbeatRttMs: number; heartbeatPeriodMs: number; startup: StartupTimings; startupCpu: StartupTimings };
  sessions: { opened: number; failed: number; lastError: string | undefined };
  statusesReported: number;
  /** Whether agentd can write its state dir; degraded: writes wait and are retried (nothing unstored is reported). */
  stateDir: StateDirHealth;
  networkKeys: number;
  dataPlane: string;
  /** The VIP load balancer in use (ipvs | nftables), when the data plane is on. */
  vipBackend: string | undefined;
  /** The embedded DNS's counters (queries, forwarding, drops), when the data plane is on. */
  dns: NetworkStatus['dns'] | undefined;
  tasks: ReturnType<Worker['tasks']>;
}

/** The reason a failed data plane gives for the degraded state. */
export const DATA_PLANE_FAILED = 'data plane failed: tasks run without overlay networks or the embedded DNS (see the log)';

/**
 * The status before the agent has an identity and a worker (agentd answers agentctl from its
 * first second): the phase, the configuration, nothing else yet.
 */
export function startingStatus(config: Pick<AgentConfig, 'hostname' | 'managers'>, phase: AgentPhase, dataPlane = 'off', stateDir: StateDirHealth = HEALTHY_STATE_DIR): AgentStatus {
  const state = phase.status;
  return {
    state,
    nodeId: '',
    hostname: config.hostname,
    clusterId: '',
    role: '',
    manager: state.manager,
    connected: false,
    sessionId: '',
    availability: 'unknown',
    nodeState: 'unknown',
    managers: [...config.managers],
    certificate: { notAfter: '', renewAt: undefined, fingerprint: '' },
    timings: { joinMs: undefined, sessionOpenMs: 0, heartbeatRttMs: 0, heartbeatPeriodMs: 0, startup: {}, startupCpu: {} },
    sessions: { opened: 0, failed: 0, lastError: state.lastError },
    statusesReported: 0,
    networkKeys: 0,
    stateDir,
    dataPlane,
    dns: undefined,
    vipBackend: undefined,
    tasks: [],
  };
}

const HEALTHY_STATE_DIR: StateDirHealth = { state: 'ok', since: undefined, lastError: undefined, pendingWrites: 0, failedAttempts: 0, degradedPeriods: 0, lastDegradedMs: undefined };

export interface AgentDeps {
  /** Whether overlays and the embedded DNS are programmed (for status). */
  dataPlane?: 'on' | 'off' | 'failed';
  /** The node's phase (joining, retrying, connected, degraded); agentd makes it before the agent, to answer from its first second. */
  phase?: AgentPhase;
  vipBackend?: () => string | undefined;
  dnsStats?: () => NetworkStatus['dns'] | undefined;
  docker: Docker;
  executor: Executor;
  log: LogFn;
  /** Where start-up steps are marked (agentd's process-wide one); a fresh one by default. */
  timeline?: StartupTimeline;
}

export class Agent {
  private identity!: NodeIdentity;
  private store!: RetryingTaskStore;
  private readonly writes: StateWrites;
  private worker!: Worker;
  private reporter!: StatusReporter;
  private remotes!: Remotes;
  private session: Session | undefined;
  private readonly stopping = new AbortController();
  private loopDone: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewAt: Date | undefined;
  private node: SessionMessage['node'] = null;
  /** Node.Attachments as last handed to the executor (JSON), so only a change is applied. */
  private nodeAttachments = '';
  private networkKeys = 0;
  private joinMs: number | undefined;
  private readonly counters = { opened: 0, failed: 0, lastError: undefined as string | undefined };
  private description: Promise<Omit<NodeDescriptionIn, 'tls_info'>> | undefined;
  /** Settles once resources of tasks the store does not list are removed: assignments wait for it. */
  private orphansCleaned: Promise<void> = Promise.resolve();
  private readonly timeline: StartupTimeline;
  readonly phase: AgentPhase;
  private readonly skew = new ClockSkew();

  constructor(
    private readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.phase = deps.phase ?? new AgentPhase();
    this.timeline = deps.timeline ?? new StartupTimeline();
    this.writes = new StateWrites({
      log: deps.log,
      onProgress: () => {
        this.worker?.storeProgressed();
        this.reporter?.notify();
      },
      onHealthChange: () => this.updateDegraded(),
    });
    this.updateDegraded();
  }

  /** The phase's degraded reasons from what is failing now: the data plane, the state dir. */
  private updateDegraded(): void {
    const reasons: string[] = [];
    if (this.deps.dataPlane === 'failed') reasons.push(DATA_PLANE_FAILED);
    const dir = this.writes.health();
    if (dir.state === 'degraded') reasons.push(`state dir writes failing (${dir.lastError ?? 'I/O error'}): tasks keep running, their statuses are reported once stored`);
    this.phase.setDegraded(reasons);
  }

  /** Resumed tasks whose sandboxes may own links (see Worker.tasksOwningSandboxes). */
  tasksOwningSandboxes(): string[] {
    return this.worker.tasksOwningSandboxes();
  }

  get nodeId(): string {
    return this.identity.info.nodeId;
  }

  async start(): Promise<void> {
    mkdirSync(this.config.stateDir, { recursive: true, mode: 0o700 });
    this.remotes = new Remotes(knownManagers(this.config));
    // The engine and host inventory goes on while the node joins and its store opens.
    void this.describeNode().catch(() => undefined);
    const saved = loadIdentity(this.config.stateDir);
    this.timeline.mark('identityLoaded');
    this.identity = saved ?? (await this.join());
    this.deps.log('info', 'node identity', { node: this.identity.info.nodeId, cluster: this.identity.info.clusterId, role: this.identity.info.role, notAfter: this.identity.info.notAfter.toISOString() });
    const storeDir = join(this.config.stateDir, 'worker');
    this.store = new RetryingTaskStore(() => TaskStore.open(storeDir), this.writes);
    this.reporter = new StatusReporter(this.store, this.deps.log, (reported) => this.worker.statusesReported(reported));
    this.worker = new Worker({
      store: this.store,
      executor: this.deps.executor,
      onStatus: () => this.reporter.notify(),
      log: this.deps.log,
    });
    this.worker.init();
    this.timeline.mark('workerReady');
    // Off the path to the session; no assignment is applied before it is done (sessionLoop), so
    // no container of a task that arrives meanwhile can look orphaned.
    this.orphansCleaned = this.cleanupOrphans();
    this.scheduleRenewal();
    this.loopDone = this.sessionLoop();
  }

  private async cleanupOrphans(): Promise<void> {
    await cleanupOrphans(this.store, this.deps.executor, this.identity.info.nodeId, this.deps.log);
  }

  private savedManagers: string | undefined;

  /** Called from the session's stream handler: a disk failure is retried, never thrown there. */
  private saveManagers(): void {
    const list = JSON.stringify(this.remotes.list());
    if (list === this.savedManagers) return;
    this.writes.run(MANAGERS_FILE, () => {
      writeFileAtomicSync(join(this.config.stateDir, MANAGERS_FILE), list, 0o600);
      this.savedManagers = list;
    });
  }

  private async join(): Promise<NodeIdentity> {
    const token = this.config.joinToken;
    if (!token) {
      throw new ConfigError('E_NO_IDENTITY', `no node identity in ${this.config.stateDir} and no join token: pass --join-token (from \`docker swarm join-token -q worker\`) and --manager`);
    }
    if (this.remotes.list().length === 0) throw new ConfigError('E_NO_MANAGER', 'no manager address: pass --manager host:2377');
    const backoff = jitteredBackoff(JOIN_BACKOFF_INITIAL_MS, JOIN_BACKOFF_MAX_MS);
    let last: string | undefined;
    for (;;) {
      const manager = this.remotes.pick(last)!;
      const t0 = performance.now();
      this.phase.attempting('join', manager);
      try {
        const id = await joinWithToken(this.config.stateDir, manager, token, this.stopping.signal, (step) => this.timeline.mark(step));
        this.joinMs = performance.now() - t0;
        this.deps.log('info', 'joined the swarm', { manager, node: id.info.nodeId, ms: Math.round(this.joinMs) });
        return id;
      } catch (err) {
        if (!(err instanceof JoinError) || !err.temporary || this.stopping.signal.aborted) throw err;
        last = manager;
        this.remotes.observe(manager, WEIGHT_FAILURE);
        const d = backoff.next();
        this.phase.failed('join', manager, err.message, d);
        this.deps.log('warn', 'join failed; retrying', { manager, err: err.message, retryMs: d });
        await sleep(d, undefined, { signal: this.stopping.signal });
      }
    }
  }

  /** The node's inventory, taken once (a failure is retried at the next session). */
  private describeNode(): Promise<Omit<NodeDescriptionIn, 'tls_info'>> {
    this.description ??= this.deps.executor.describe().then(
      (base) => {
        this.timeline.mark('nodeDescribed');
        return { ...base, hostname: this.config.hostname };
      },
      (err: unknown) => {
        this.description = undefined;
        throw err;
      },
    );
    return this.description;
  }

  private async nodeDescription(): Promise<NodeDescriptionIn> {
    return { ...(await this.describeNode()), tls_info: tlsInfo(this.identity) };
  }

  private async sessionLoop(): Promise<void> {
    const backoff = jitteredBackoff(SESSION_BACKOFF_INITIAL_MS, SESSION_BACKOFF_MAX_MS);
    let lastFailed: string | undefined;
    while (!this.stopping.signal.aborted) {
      const manager = this.remotes.pick(lastFailed);
      if (!manager) throw new ConfigError('E_NO_MANAGER', 'no manager address known');
      this.phase.attempting('session', manager);
      let establishedAt: number | undefined;
      const session = new Session({
        manager,
        rootCaPem: this.identity.rootCaPem,
        keyPem: this.identity.keyPem,
        certPem: this.identity.certPem,
        description: this.nodeDescription().catch((err: unknown) => {
          this.deps.log('warn', 'describing the node failed', { err: (err as Error).message });
          return { hostname: this.config.hostname } as NodeDescriptionIn;
        }),
        handlers: {
          onSessionMessage: (m) => this.onSessionMessage(m, manager),
          onAssignments: async (m) => {
            this.observeSkew(m, Date.now());
            await this.orphansCleaned;
            return this.worker.assign(m);
          },
        },
        onOpen: () => this.timeline.mark('sessionOpen'),
        log: this.deps.log,
      });
      try {
        this.worker.resetStream();
        const { done } = await session.start(this.stopping.signal);
        this.timeline.mark('firstHeartbeat');
        establishedAt = Date.now();
        this.session = session;
        this.counters.opened++;
        this.remotes.observe(manager, WEIGHT_SUCCESS);
        lastFailed = undefined;
        this.phase.sessionUp(manager);
        this.deps.log('info', 'session established', { manager, session: session.sessionId, openMs: Math.round(session.timings.openMs), heartbeatPeriodMs: session.timings.heartbeatPeriodMs });
        this.reporter.setSender(session);
        const logsStop = new AbortController();
        const logsDone = isLogSource(this.deps.executor)
          ? runLogBroker({ manager, credentials: this.identity, nodeId: this.identity.info.nodeId, source: this.deps.executor, log: this.deps.log }, logsStop.signal)
          : Promise.resolve();
        try {
          await done;
        } finally {
          logsStop.abort();
          await logsDone.catch(() => undefined);
        }
      } catch (err) {
        session.close();
        this.reporter.setSender(undefined);
        this.session = undefined;
        if (this.stopping.signal.aborted) break;
        this.counters.failed++;
        this.counters.lastError = (err as Error).message;
        this.remotes.observe(manager, session.reachedManager ? WEIGHT_FAILURE : WEIGHT_UNREACHABLE);
        lastFailed = manager;
        // A session that registered and lived a heartbeat period shows that side worked; its end is
        // most likely that manager going away, and the dispatcher declares the node down (and
        // reschedules its tasks) 3 periods after the last heartbeat, detection (≤ period +
        // deadline) included: start afresh, as SwarmKit's agent does on registration. A manager
        // that drops each session sooner still meets a growing backoff.
        if (establishedAt !== undefined && Date.now() - establishedAt >= session.timings.heartbeatPeriodMs) backoff.reset();
        const code = (err as { code?: string }).code;
        const delay = code === 'E_ASSIGNMENTS_OUT_OF_SYNC' || code === 'E_SESSION_RENEWED' ? 0 : backoff.next();
        this.phase.failed('session', manager, (err as Error).message, delay);
        this.deps.log('warn', 'session ended; reconnecting', { manager, err: (err as Error).message, retryMs: delay });
        await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
  }

  /** Newly assigned tasks carry the scheduler's timestamp: samples of the clock skew (clock-skew.ts). */
  private observeSkew(m: AssignmentsMessage, localMs: number): void {
    if (m.type !== AssignmentsType.INCREMENTAL) return;
    for (const c of m.changes) {
      const st = c.assignment?.task?.status;
      if (!st?.timestamp || (st.state as unknown) !== TaskState.ASSIGNED) continue;
      this.skew.observe(Number(st.timestamp.seconds) * 1000 + Math.floor((st.timestamp.nanos ?? 0) / 1e6), localMs);
    }
  }

  /** The node certificate's validity, once the node has an identity. */
  certificateValidity(): { notBefore: string; notAfter: string } | undefined {
    const id = this.identity as NodeIdentity | undefined;
    return id && { notBefore: id.info.notBefore.toISOString(), notAfter: id.info.notAfter.toISOString() };
  }

  clockSkew(): ClockSkewEstimate | undefined {
    return this.skew.estimate();
  }

  /** One task of this node by id (or unique prefix); undefined before the worker runs or when unknown. */
  task(id: string): TaskDetail | undefined {
    return (this.worker as Worker | undefined)?.task(id);
  }

  private onSessionMessage(msg: SessionMessage, manager: string): void {
    if (msg.node) {
      const prev = this.node?.spec?.availability;
      this.node = msg.node;
      const now = msg.node.spec?.availability;
      if (prev !== undefined && prev !== now) this.deps.log('info', 'node availability changed', { from: enumName(NodeAvailability, prev)?.toLowerCase(), to: enumName(NodeAvailability, now)?.toLowerCase() });
      // During a root CA rotation the manager marks each node's certificate ROTATE until the
      // node holds one issued by the new CA.
      const attachments = JSON.stringify(msg.node.attachments ?? msg.node.attachment ?? null);
      if (attachments !== this.nodeAttachments) {
        this.nodeAttachments = attachments;
        void this.deps.executor.configure?.(msg.node).catch((err: Error) => this.deps.log('warn', 'network attachments not applied', { err: err.message }));
      }
      if (msg.node.certificate?.status?.state === IssuanceState.ROTATE) {
        this.deps.log('info', 'manager asks for a certificate from the rotated root CA; renewing', { manager });
        void this.renew();
      }
    }
    if (msg.managers.length > 0) {
      this.remotes.replace(msg.managers.map((m) => ({ addr: m.peer?.addr ?? '', weight: Number(m.weight) })));
      this.saveManagers();
    }
    this.networkKeys = msg.network_bootstrap_keys.length;
    if (msg.network_bootstrap_keys.length > 0) {
      this.deps.executor.setNetworkBootstrapKeys?.(msg.network_bootstrap_keys.map((k) => ({ subsystem: k.subsystem, key: Buffer.from(k.key), lamportTime: BigInt(k.lamport_time || '0') })));
    }
    const root = Buffer.from(msg.RootCA).toString('utf8');
    if (root && root !== this.identity.rootCaPem && root !== this.announcedRoot) {
      this.announcedRoot = root;
      this.deps.log('info', 'root CA changed; renewing the node certificate', { manager });
      this.writes.run('root CA', () => saveRootCa(this.config.stateDir, root));
      void this.renew(root);
    }
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const delay = renewalDelayMs(this.identity.info, Date.now());
    this.renewAt = new Date(Date.now() + delay);
    // setTimeout caps at 2^31-1 ms (~24.8 days); re-arm until the renewal point.
    const step = Math.min(delay, 2 ** 31 - 1);
    this.renewTimer = setTimeout(() => (step === delay ? void this.renew() : this.scheduleRenewal()), step);
    this.renewTimer.unref();
  }

  private renewing = false;
  private announcedRoot: string | undefined;

  /** A renewal asked for while one is running (e.g. the root changed meanwhile) runs after it. */
  private renewQueued: { rootCaPem: string | undefined } | undefined;

  private async renew(rootCaPem?: string): Promise<void> {
    if (this.renewing) {
      this.renewQueued = { rootCaPem: rootCaPem ?? this.renewQueued?.rootCaPem };
      return;
    }
    this.renewing = true;
    try {
      const manager = this.session?.manager ?? this.remotes.pick();
      if (!manager) throw new Error('no manager known');
      this.identity = await renewCertificate(this.config.stateDir, manager, this.identity, rootCaPem ?? this.identity.rootCaPem, this.stopping.signal);
      this.writes.noteWritten('certificates');
      this.deps.log('info', 'node certificate renewed', { node: this.identity.info.nodeId, notAfter: this.identity.info.notAfter.toISOString() });
      this.scheduleRenewal();
      // The next session presents the new certificate.
      this.session?.fail(new SessionError('E_SESSION_RENEWED', 'certificate renewed; re-establishing the session'));
    } catch (err) {
      if (isIoError(err)) this.writes.noteFailure('certificates', err);
      this.deps.log('warn', 'certificate renewal failed; will retry', { err: (err as Error).message });
      clearTimeout(this.renewTimer);
      this.renewTimer = setTimeout(() => void this.renew(rootCaPem), RENEW_RETRY_MS);
      this.renewTimer.unref();
    } finally {
      this.renewing = false;
      const queued = this.renewQueued;
      this.renewQueued = undefined;
      if (queued && !this.stopping.signal.aborted) void this.renew(queued.rootCaPem);
    }
  }

  status(): AgentStatus {
    // Answered from the first second: before start() has an identity (joining, retrying).
    if ((this.identity as NodeIdentity | undefined) === undefined || (this.worker as Worker | undefined) === undefined) {
      const starting = startingStatus(this.config, this.phase, this.deps.dataPlane, this.writes.health());
      return { ...starting, timings: { ...starting.timings, startup: this.timeline.timings(), startupCpu: this.timeline.cpuTimings() }, managers: (this.remotes as Remotes | undefined)?.list() ?? [...this.config.managers] };
    }
    const s = this.session;
    return {
      state: this.phase.status,
      nodeId: this.identity.info.nodeId,
      hostname: this.config.hostname,
      clusterId: this.identity.info.clusterId,
      role: this.identity.info.role,
      manager: s?.manager,
      connected: s !== undefined && !s.closed,
      sessionId: s?.sessionId ?? '',
      availability: enumName(NodeAvailability, this.node?.spec?.availability)?.toLowerCase() ?? 'unknown',
      nodeState: enumName(NodeState, this.node?.status?.state)?.toLowerCase() ?? 'unknown',
      managers: this.remotes.list(),
      certificate: { notAfter: this.identity.info.notAfter.toISOString(), renewAt: this.renewAt?.toISOString(), fingerprint: this.identity.info.fingerprint256 },
      timings: { joinMs: this.joinMs, sessionOpenMs: s?.timings.openMs ?? 0, heartbeatRttMs: s?.timings.heartbeatRttMs ?? 0, heartbeatPeriodMs: s?.timings.heartbeatPeriodMs ?? 0, startup: this.timeline.timings(), startupCpu: this.timeline.cpuTimings() },
      sessions: { ...this.counters },
      statusesReported: this.reporter.reportedCount,
      stateDir: this.writes.health(),
      networkKeys: this.networkKeys,
      dataPlane: this.deps.dataPlane ?? 'off',
      vipBackend: this.deps.vipBackend?.(),
      dns: this.deps.dnsStats?.(),
      tasks: this.worker.tasks(),
    };
  }

  /** Leaves tasks running: a stopped agent must never stop the node's workload. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.renewTimer);
    this.session?.close();
    await this.loopDone?.catch(() => undefined);
    await this.worker?.close();
    const unwritten = this.writes.close();
    if (unwritten > 0) this.deps.log('warn', 'stopping with state dir writes not done; the manager sends the tasks again and the runners redo their statuses', { writes: unwritten });
    this.store?.close();
  }
}

// One registration round with a manager's dispatcher: open Session, heartbeat at the period
// the manager gives, stream Assignments, send task status batches. Any failure ends the
// round (run() rejects); the agent then makes a new one with backoff. Running tasks are
// untouched by a failed session.
import * as grpc from '@grpc/grpc-js';
import { swarmApi } from '../proto/index.js';
import type { DispatcherClient } from '../proto/gen/docker/swarmkit/v1/Dispatcher.js';
import type { AssignmentsMessage, HeartbeatResponse, NodeDescriptionIn, SessionMessage, TaskStatusIn } from '../proto/api.js';
import { SessionError } from '../errors.js';
import type { LogFn } from '../../base/index.js';
import { MANAGER_SERVER_NAME, channelOptions, grpcCodeName, isGrpcError, pinnedTls, unary } from '../grpc-util.js';
import { heartbeatEvents } from '../events.js';

/** How long to wait for the first SessionMessage (the manager sends it in ~0.1 s). */
const SESSION_OPEN_TIMEOUT_MS = 10_000;
export const HEARTBEAT_TIMEOUT_MS = 5_000;
/** Used until the manager tells us its period. */
const DEFAULT_HEARTBEAT_PERIOD_MS = 5_000;
const STATUS_UPDATE_TIMEOUT_MS = 10_000;

export interface StatusUpdate {
  taskId: string;
  status: TaskStatusIn;
}

export interface SessionHandlers {
  /** Every SessionMessage after the first too: node, manager list, network keys, root CA. */
  onSessionMessage(msg: SessionMessage): void;
  /** Called in stream order, one at a time; must persist before it resolves. */
  onAssignments(msg: AssignmentsMessage): Promise<void>;
}

/** How long one wait for a connectivity change lasts before it is re-armed. */
const READY_WATCH_SLICE_MS = 60_000;

export interface SessionOptions {
  manager: string;
  rootCaPem: string;
  keyPem: string;
  certPem: string;
  /** May still be in the making: the connection to the manager is opened meanwhile. */
  description: NodeDescriptionIn | Promise<NodeDescriptionIn>;
  handlers: SessionHandlers;
  /** Called when the first SessionMessage arrives (the manager has registered the node). */
  onOpen?: () => void;
  log: LogFn;
}

export interface SessionTimings {
  /** Session call to the first SessionMessage. */
  openMs: number;
  /** Last heartbeat round trip. */
  heartbeatRttMs: number;
  heartbeatPeriodMs: number;
}

function sessionErrorFrom(err: unknown, what: string, manager: string): SessionError {
  if (err instanceof SessionError) return err;
  if (isGrpcError(err)) {
    return new SessionError(`E_SESSION_${grpcCodeName(err.code)}`, `${what} with ${manager} failed: ${grpcCodeName(err.code)}: ${err.details}`, { cause: err, temporary: true });
  }
  return new SessionError('E_SESSION', `${what} with ${manager} failed: ${(err as Error).message}`, { cause: err, temporary: true });
}

export class Session {
  readonly manager: string;
  sessionId = '';
  readonly timings: SessionTimings = { openMs: 0, heartbeatRttMs: 0, heartbeatPeriodMs: DEFAULT_HEARTBEAT_PERIOD_MS };
  private readonly client: DispatcherClient;
  private readonly abort = new AbortController();
  private failure: ((err: SessionError) => void) | undefined;
  private readonly calls: Array<{ cancel(): void }> = [];
  private connected = false;
  /** The channel was READY at some point (a connection to the manager was up). */
  private everReady = false;

  constructor(private readonly opts: SessionOptions) {
    this.manager = opts.manager;
    const api = swarmApi();
    this.client = new api.Dispatcher(opts.manager, pinnedTls(opts.rootCaPem, { keyPem: opts.keyPem, certPem: opts.certPem }), {
      ...channelOptions(MANAGER_SERVER_NAME),
      // A new channel per session: a broken connection must not be reused by the next round.
      'grpc.use_local_subchannel_pool': 1,
    }) as unknown as DispatcherClient;
    // Connect now (TCP and TLS) rather than at the first call: the handshake overlaps with
    // whatever the caller still does before start() (the node description, the store).
    this.connectNow();
    this.watchReady();
  }

  private connectNow(): void {
    try {
      this.client.getChannel().getConnectivityState(true);
    } catch {
      // closed already: start() reports it
    }
  }

  /**
   * Notes when the channel is first READY. Sampling the state when the session fails is not
   * enough: by then a manager that answered with an error (a follower with no leader) may have
   * closed the connection, and it would rank as one never reached (WEIGHT_UNREACHABLE).
   */
  private watchReady(): void {
    let channel: ReturnType<DispatcherClient['getChannel']>;
    let state: grpc.connectivityState;
    try {
      channel = this.client.getChannel();
      state = channel.getConnectivityState(false);
    } catch {
      return; // closed
    }
    if (state === grpc.connectivityState.READY) {
      this.everReady = true;
      return;
    }
    if (state === grpc.connectivityState.SHUTDOWN || this.abort.signal.aborted) return;
    channel.watchConnectivityState(state, Date.now() + READY_WATCH_SLICE_MS, () => this.watchReady());
  }

  /** Resolves once the session is registered (first SessionMessage); `done` settles when it ends. */
  async start(signal: AbortSignal): Promise<{ done: Promise<never> }> {
    const done = new Promise<never>((_, reject) => {
      this.failure = (err) => reject(err);
    });
    done.catch(() => undefined);
    const onAbort = () => this.fail(new SessionError('E_SESSION_CLOSED', 'session closed by the agent'));
    signal.addEventListener('abort', onAbort, { once: true });
    this.abort.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });

    const description = await this.opts.description;
    const t0 = performance.now();
    const first = await this.openSession(description);
    this.timings.openMs = performance.now() - t0;
    this.opts.onOpen?.();
    this.sessionId = first.session_id;
    this.opts.handlers.onSessionMessage(first);
    await this.heartbeatOnce();
    this.heartbeatLoop();
    this.watchAssignments();
    return { done };
  }

  private openSession(description: NodeDescriptionIn): Promise<SessionMessage> {
    return new Promise((resolve, reject) => {
      const call = this.client.Session({ description });
      this.calls.push(call);
      let first = true;
      const timer = setTimeout(() => {
        reject(new SessionError('E_SESSION_OPEN_TIMEOUT', `no SessionMessage from ${this.manager} within ${SESSION_OPEN_TIMEOUT_MS} ms`, { temporary: true }));
        call.cancel();
      }, SESSION_OPEN_TIMEOUT_MS);
      call.on('data', (msg: SessionMessage) => {
        this.connected = true;
        if (first) {
          first = false;
          clearTimeout(timer);
          resolve(msg);
        } else {
          this.opts.handlers.onSessionMessage(msg);
        }
      });
      call.on('error', (err: unknown) => {
        clearTimeout(timer);
        const e = sessionErrorFrom(err, 'Session stream', this.manager);
        if (first) reject(e);
        else this.fail(e);
      });
      call.on('end', () => {
        clearTimeout(timer);
        const e = new SessionError('E_SESSION_ENDED', `${this.manager} ended the Session stream`, { temporary: true });
        if (first) reject(e);
        else this.fail(e);
      });
    });
  }

  private async heartbeatOnce(): Promise<void> {
    const t0 = performance.now();
    const res = await unary<object, HeartbeatResponse>(this.client as unknown as grpc.Client, this.client.Heartbeat as never, { session_id: this.sessionId }, HEARTBEAT_TIMEOUT_MS, this.abort.signal).catch(
      (err: unknown) => {
        throw sessionErrorFrom(err, 'Heartbeat', this.manager);
      },
    );
    this.timings.heartbeatRttMs = performance.now() - t0;
    heartbeatEvents.publish({ manager: this.manager, rttMs: this.timings.heartbeatRttMs });
    const p = res.period;
    if (p) this.timings.heartbeatPeriodMs = Number(p.seconds) * 1000 + Math.floor(p.nanos / 1e6);
  }

  private heartbeatLoop(): void {
    const tick = () => {
      if (this.abort.signal.aborted) return;
      this.heartbeatOnce().then(
        () => {
          if (!this.abort.signal.aborted) setTimeout(tick, this.timings.heartbeatPeriodMs).unref();
        },
        (err: unknown) => this.fail(sessionErrorFrom(err, 'Heartbeat', this.manager)),
      );
    };
    setTimeout(tick, this.timings.heartbeatPeriodMs).unref();
  }

  private watchAssignments(): void {
    const call = this.client.Assignments({ session_id: this.sessionId });
    this.calls.push(call);
    let chain = Promise.resolve();
    call.on('data', (msg: AssignmentsMessage) => {
      call.pause();
      chain = chain
        .then(() => this.opts.handlers.onAssignments(msg))
        .then(
          () => {
            call.resume();
          },
          (err: unknown) => this.fail(err instanceof SessionError ? err : new SessionError('E_ASSIGNMENTS', `applying assignments failed: ${(err as Error).message}`, { cause: err, temporary: true })),
        );
    });
    call.on('error', (err: unknown) => this.fail(sessionErrorFrom(err, 'Assignments stream', this.manager)));
    call.on('end', () => this.fail(new SessionError('E_ASSIGNMENTS_ENDED', `${this.manager} ended the Assignments stream`, { temporary: true })));
  }

  async sendStatuses(updates: readonly StatusUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    await unary(
      this.client as unknown as grpc.Client,
      this.client.UpdateTaskStatus as never,
      { session_id: this.sessionId, updates: updates.map((u) => ({ task_id: u.taskId, status: u.status })) },
      STATUS_UPDATE_TIMEOUT_MS,
      this.abort.signal,
    ).catch((err: unknown) => {
      throw sessionErrorFrom(err, 'UpdateTaskStatus', this.manager);
    });
  }

  get closed(): boolean {
    return this.abort.signal.aborted;
  }

  /**
   * Whether a connection to the manager was ever up: a manager that answered with an error (a
   * follower with no leader to forward to) is there; one never connected to (refused,
   * unreachable) likely is not, and the agent ranks it below those that answered.
   */
  get reachedManager(): boolean {
    return this.connected || this.everReady || this.channelReady();
  }

  private channelReady(): boolean {
    try {
      return this.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
    } catch {
      return false; // already closed
    }
  }

  fail(err: SessionError): void {
    if (this.abort.signal.aborted) return;
    this.connected ||= this.channelReady();
    this.abort.abort(err);
    for (const c of this.calls) c.cancel();
    this.client.close();
    this.failure?.(err);
  }

  close(): void {
    this.fail(new SessionError('E_SESSION_CLOSED', 'session closed by the agent'));
  }
}

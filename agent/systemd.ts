// agentd under systemd (Type=notify, WatchdogSec=): the sd_notify(3) protocol, spoken by hand.
// The service manager passes a unix datagram socket in NOTIFY_SOCKET; each message is one
// datagram of newline-separated KEY=VALUE lines. Node has no unix datagram sockets, so the
// datagram goes out through native/'s sendUnixDatagram (one sendto, ABI-stable N-API) rather
// than an npm package (unix-dgram builds against V8's ABI through nan, sd-notify links
// libsystemd): no second native build, nothing to rebuild for a new Node.
//
// Keep-alives (WATCHDOG=1) come from a timer on the event loop, so a stalled loop stops them and
// systemd restarts agentd. The watchdog only runs once start-up is complete (READY=1), and
// start-up waits for the manager as long as it takes: until READY, every keep-alive tick also
// extends the start timeout (EXTEND_TIMEOUT_USEC) by one watchdog interval, so a live agentd
// waiting for its manager is never killed for it, and a stalled one is, by TimeoutStartSec.
import { sendUnixDatagram } from '../native/index.js';
import type { LogFn } from './log.js';

/** Keep-alives at half the watchdog interval, as sd_watchdog_enabled(3) advises. */
const KEEPALIVE_FRACTION = 0.5;
/** Without a watchdog, how often the start timeout is extended while agentd waits for its manager. */
const EXTEND_TICK_MS = 10_000;
/** The first failed send is logged at warn; the rest at debug (a datagram a second otherwise). */
const SEND_FAILURES_WARNED = 1;

/** The environment systemd passes: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID. */
export type SdNotifyEnv = Readonly<Record<string, string | undefined>>;

/** The watchdog interval in µs systemd asks for, or undefined (not set, meant for another pid, malformed). */
export function watchdogUsec(env: SdNotifyEnv, pid: number): number | undefined {
  if (env.WATCHDOG_USEC === undefined) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  const usec = Number(env.WATCHDOG_USEC);
  return Number.isSafeInteger(usec) && usec > 0 ? usec : undefined;
}

/** One sd_notify message: KEY=VALUE lines; a value never spans lines (a STATUS text may hold any error). */
export function notifyMessage(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${String(v).replace(/\s*\n\s*/g, ' ')}`)
    .join('\n');
}

export class SystemdNotifier {
  private keepalive: NodeJS.Timeout | undefined;
  private ready = false;
  private lastStatus: string | undefined;
  private failures = 0;

  private constructor(
    private readonly socket: string | undefined,
    /** Watchdog interval, µs (undefined: no watchdog). */
    private readonly watchdog: number | undefined,
    private readonly log: LogFn,
  ) {}

  /**
   * Reads NOTIFY_SOCKET and WATCHDOG_* and takes them out of `env` (as sd_notify's
   * unset_environment does): agentd's children (nsenter, nft, mount) are not the service.
   */
  static fromEnv(env: NodeJS.ProcessEnv, log: LogFn, pid = process.pid): SystemdNotifier {
    const socket = env.NOTIFY_SOCKET || undefined;
    const watchdog = socket ? watchdogUsec(env, pid) : undefined;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    return new SystemdNotifier(socket, watchdog, log);
  }

  /** Under a service manager that listens (NOTIFY_SOCKET set). */
  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** The keep-alive period in ms, when systemd runs a watchdog on agentd. */
  get keepaliveMs(): number | undefined {
    return this.watchdog === undefined ? undefined : Math.max(1, Math.floor((this.watchdog / 1000) * KEEPALIVE_FRACTION));
  }

  /** Starts the keep-alive timer (and, until READY, the start-timeout extensions). */
  start(): void {
    if (!this.socket || this.keepalive) return;
    const period = this.keepaliveMs ?? EXTEND_TICK_MS;
    // Twice the period: one late tick on a loaded machine is not a stall.
    const extendUsec = period * 2 * 1000;
    const tick = () => {
      const fields: Record<string, string | number> = {};
      if (this.watchdog !== undefined) fields.WATCHDOG = 1;
      if (!this.ready) fields.EXTEND_TIMEOUT_USEC = Math.max(extendUsec, this.watchdog ?? 0);
      if (Object.keys(fields).length > 0) this.send(fields);
      if (this.ready && this.watchdog === undefined) this.stopTimer();
    };
    tick();
    this.keepalive = setInterval(tick, period);
    // Keep-alives alone must not keep agentd running.
    this.keepalive.unref();
  }

  /** What agentd is doing, for `systemctl status`; repeats are not sent again. */
  status(text: string): void {
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.send({ STATUS: text });
  }

  /** Start-up complete: the session is up and the data plane restored. Sent once. */
  markReady(status: string): void {
    if (this.ready) return;
    this.ready = true;
    this.lastStatus = status;
    this.send({ READY: 1, STATUS: status });
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** agentd is shutting down: no restart-worthy silence from here on. */
  stopping(status = 'stopping (tasks keep running)'): void {
    this.stopTimer();
    this.send({ STOPPING: 1, STATUS: status });
  }

  private stopTimer(): void {
    clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  private send(fields: Record<string, string | number>): void {
    if (!this.socket) return;
    try {
      sendUnixDatagram(this.socket, Buffer.from(notifyMessage(fields)));
    } catch (err) {
      this.failures++;
      this.log(this.failures <= SEND_FAILURES_WARNED ? 'warn' : 'debug', 'sd_notify to the service manager failed', { socket: this.socket, err: (err as Error).message, failures: this.failures });
    }
  }
}

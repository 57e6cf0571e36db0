// When each step of agentd's start-up finished, in ms since the process started (Node's
// performance clock starts with the process): where the time to Ready goes. agentctl status
// --json shows it (timings.startup) and `--log-level debug` logs each step as it ends. Only the
// first occurrence of a step counts: a later session or a retried join is not start-up.

/** The steps, in the order a fresh join goes through them (a restart skips the join ones). */
export const STARTUP_STEPS = [
  /** agentd's modules are loaded (what the first seconds need; the rest loads later, lazily). */
  'modulesLoaded',
  /** Flags, environment and config file resolved. */
  'configResolved',
  /** The state dir is locked for this agentd. */
  'stateDirLocked',
  /** agentctl can reach agentd. */
  'controlSocketOpen',
  /** The saved identity is read (restart) or known to be absent (fresh join). */
  'identityLoaded',
  /** Join: the manager's root CA fetched and pinned by the token. */
  'rootCaFetched',
  /** Join: a key pair and its CSR made. */
  'csrMade',
  /** Join: the manager signed the node certificate, saved to the state dir. */
  'certificateIssued',
  /** The node description (host and engine inventory) is ready to send. */
  'nodeDescribed',
  /** The worker's task store is open and its tasks resumed. */
  'workerReady',
  /** The manager answered the Session call: it has marked the node Ready by then. */
  'sessionOpen',
  /** The first heartbeat was answered. */
  'firstHeartbeat',
] as const;

export type StartupStep = (typeof STARTUP_STEPS)[number];

export type StartupTimings = Partial<Record<StartupStep, number>>;

/** CPU (user + system, all threads) the process has used, in ms. */
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const tenths = (ms: number) => Math.round(ms * 10) / 10;

export class StartupTimeline {
  private readonly at: StartupTimings = {};
  private readonly cpuAt: StartupTimings = {};
  private readonly listeners: Array<(step: StartupStep, ms: number, cpuMs: number) => void> = [];

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly cpuNow: () => number = processCpuMs,
  ) {}

  /** Notes that a step finished now; only its first time counts. */
  mark(step: StartupStep): void {
    if (this.at[step] !== undefined) return;
    const ms = tenths(this.now());
    const cpuMs = tenths(this.cpuNow());
    this.at[step] = ms;
    this.cpuAt[step] = cpuMs;
    for (const l of this.listeners) l(step, ms, cpuMs);
  }

  /** The CPU the process had used when each step finished (ms): start-up's cost whatever else
   *  the machine runs, which stretches the wall-clock figures but not these. */
  cpuTimings(): StartupTimings {
    return ordered(this.cpuAt);
  }

  onMark(listener: (step: StartupStep, ms: number, cpuMs: number) => void): void {
    this.listeners.push(listener);
  }

  /** The steps reached so far, in STARTUP_STEPS order. */
  timings(): StartupTimings {
    return ordered(this.at);
  }
}

function ordered(t: StartupTimings): StartupTimings {
  const out: StartupTimings = {};
  for (const s of STARTUP_STEPS) if (t[s] !== undefined) out[s] = t[s];
  return out;
}

/** agentd's own timeline: one per process, marked from the CLI, the agent and the session. */
export const startupTimeline = new StartupTimeline();

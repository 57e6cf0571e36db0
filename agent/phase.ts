// Where agentd stands with its managers, from the first second: joining (an attempt in
// progress, nothing failed yet), retrying (the last attempt failed: why, and when the next one
// starts), connected (a session is up) or degraded (a session is up, but part of the node does
// not work). agentctl status shows it, and so does systemd's STATUS= line; listeners hear each
// change. Pure bookkeeping: the clock is passed in.

export type AgentState = 'joining' | 'retrying' | 'connected' | 'degraded';

/** What the current or last attempt is: the first join with a token, or a session with a manager. */
export type AttemptKind = 'join' | 'session';

export interface AgentPhaseStatus {
  state: AgentState;
  /** When the node entered this state (ISO). */
  since: string;
  attempt: AttemptKind | undefined;
  /** The manager of the attempt in progress, or of the session. */
  manager: string | undefined;
  /** Attempts that failed since the last session came up (or since start). */
  failures: number;
  lastError: string | undefined;
  /** When the next attempt starts, while waiting for it (ISO); undefined during an attempt. */
  nextAttemptAt: string | undefined;
  /** Why the node is degraded (empty unless it is). */
  degraded: string[];
}

type Listener = (s: AgentPhaseStatus) => void;

export class AgentPhase {
  private s: AgentPhaseStatus;
  private readonly listeners: Listener[] = [];
  private connected = false;
  private degradedReasons: string[] = [];

  constructor(private readonly now: () => number = Date.now) {
    this.s = { state: 'joining', since: this.iso(), attempt: undefined, manager: undefined, failures: 0, lastError: undefined, nextAttemptAt: undefined, degraded: [] };
  }

  get status(): AgentPhaseStatus {
    return { ...this.s, degraded: [...this.s.degraded] };
  }

  onChange(fn: Listener): void {
    this.listeners.push(fn);
  }

  /** An attempt starts: joining until one has failed, retrying after. */
  attempting(kind: AttemptKind, manager: string): void {
    this.connected = false;
    this.update({ state: this.s.failures > 0 ? 'retrying' : 'joining', attempt: kind, manager, nextAttemptAt: undefined });
  }

  /** The attempt (or the session) failed; the next one starts after `delayMs`. */
  failed(kind: AttemptKind, manager: string, err: string, delayMs: number): void {
    this.connected = false;
    this.update({ state: 'retrying', attempt: kind, manager, failures: this.s.failures + 1, lastError: err, nextAttemptAt: new Date(this.now() + delayMs).toISOString() });
  }

  /** A session is up. The last error stays, for the record; the failure count starts again. */
  sessionUp(manager: string): void {
    this.connected = true;
    this.update({ state: this.degradedReasons.length > 0 ? 'degraded' : 'connected', attempt: 'session', manager, failures: 0, nextAttemptAt: undefined });
  }

  /** Replaces the reasons the node is degraded ([] when nothing is). Counts only while connected. */
  setDegraded(reasons: readonly string[]): void {
    this.degradedReasons = [...reasons];
    const state = this.connected ? (reasons.length > 0 ? 'degraded' : 'connected') : this.s.state;
    this.update({ state, degraded: [...reasons] });
  }

  /** One line for systemd's STATUS= (and logs): what agentd is doing and why. */
  describe(): string {
    const s = this.s;
    const target = s.manager ? ` ${s.manager}` : '';
    switch (s.state) {
      case 'joining':
        return s.attempt === 'join' ? `joining the swarm through${target}` : `connecting to manager${target}`;
      case 'retrying': {
        const when = s.nextAttemptAt ? `next attempt in ${Math.max(0, Math.ceil((Date.parse(s.nextAttemptAt) - this.now()) / 1000))} s` : `retrying${target} now`;
        // The count spans kinds (a failed join, then a session that failed to open): no kind named.
        return `retrying (${s.failures} failed attempt${s.failures === 1 ? '' : 's'}; last error: ${s.lastError ?? 'none'}); ${when}`;
      }
      case 'connected':
        return `connected to${target}`;
      case 'degraded':
        return `degraded (${s.degraded.join('; ')}); connected to${target}`;
    }
  }

  private update(patch: Partial<AgentPhaseStatus>): void {
    const next = { ...this.s, ...patch };
    if (next.state !== this.s.state) next.since = this.iso();
    this.s = next;
    for (const fn of this.listeners) fn(this.status);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

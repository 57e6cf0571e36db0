// memberlist's failure-detection arithmetic (hashicorp/memberlist util.go suspicionTimeout,
// retransmitLimit; suspicion.go, after Lifeguard's "dynamic suspicion timeout"), and the timer
// that turns a suspect into dead. Pure functions first so the numbers can be checked against
// memberlist's own; the timer is the one effectful part.

/**
 * The shortest a suspicion lasts: SuspicionMult probe intervals, scaled up by log10 of the
 * cluster size once it passes 10 nodes (memberlist keeps milliseconds of the scale).
 */
export function suspicionTimeoutMs(suspicionMult: number, nodes: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, nodes)));
  return Math.floor((suspicionMult * Math.floor(nodeScale * 1000) * probeIntervalMs) / 1000);
}

/**
 * How long a suspicion that started `elapsedMs` ago still has, after `confirmations` of the
 * `expected` independent confirmations: from max down to min, log-scaled, never under min
 * (suspicion.go remainingSuspicionTime). May be ≤ 0: time is up.
 */
export function remainingSuspicionMs(confirmations: number, expected: number, elapsedMs: number, minMs: number, maxMs: number): number {
  const frac = Math.log(confirmations + 1) / Math.log(expected + 1);
  const raw = maxMs / 1000 - frac * ((maxMs - minMs) / 1000);
  const timeout = Math.max(Math.floor(raw * 1000), minMs);
  return timeout - elapsedMs;
}

/** How many times a broadcast is sent before it is dropped: RetransmitMult × ceil(log10(n+1)). */
export function retransmitLimit(retransmitMult: number, nodes: number): number {
  return retransmitMult * Math.ceil(Math.log10(nodes + 1));
}

/**
 * The bounds and the number of confirmations expected for a new suspicion in a cluster of
 * `nodes` (ourselves included), as memberlist's suspectNode computes them: k = SuspicionMult − 2
 * other members are expected to confirm, or none in a cluster too small to have them.
 */
export function suspicionBounds(cfg: { suspicionMult: number; suspicionMaxTimeoutMult: number; probeIntervalMs: number }, nodes: number): { minMs: number; maxMs: number; expected: number } {
  let expected = cfg.suspicionMult - 2;
  if (nodes - 2 < expected) expected = 0;
  const minMs = suspicionTimeoutMs(cfg.suspicionMult, nodes, cfg.probeIntervalMs);
  return { minMs, maxMs: cfg.suspicionMaxTimeoutMult * minMs, expected };
}

/**
 * One member under suspicion. Starts at max (min when no confirmation is expected); each new
 * member confirming it shortens the remaining time; fires once.
 */
export class Suspicion {
  private readonly confirmations = new Set<string>();
  private confirmed = 0;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    from: string,
    private readonly expected: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: (confirmations: number) => void,
  ) {
    this.confirmations.add(from);
    this.arm(expected < 1 ? minMs : maxMs);
  }

  /** Another member suspects it too; true when that is news (worth re-broadcasting). */
  confirm(from: string): boolean {
    if (this.confirmed >= this.expected || this.confirmations.has(from) || this.timer === undefined) return false;
    this.confirmations.add(from);
    this.confirmed++;
    clearTimeout(this.timer);
    this.arm(remainingSuspicionMs(this.confirmed, this.expected, Date.now() - this.started, this.minMs, this.maxMs));
    return true;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.onTimeout(this.confirmed);
      },
      Math.max(0, ms),
    );
    this.timer.unref();
  }
}

/**
 * Lifeguard's local health (memberlist awareness.go): a score from 0 (healthy) to max − 1 that
 * a probe answered lowers by one, and that a failed probe raises by the nacks its helpers did
 * not send (by one when none was expected), as does having to refute a suspicion of ourselves.
 * The probe's deadline is scaled by score + 1: a node too slow to hear acks in time probes, and
 * accuses, less often instead of declaring healthy peers dead.
 */
export class Awareness {
  private current = 0;

  private readonly max: number;

  /** `max` below 1 is taken as 1: a score that stays 0. */
  constructor(max: number) {
    this.max = Math.max(1, Math.floor(max));
  }

  get score(): number {
    return this.current;
  }

  applyDelta(delta: number): void {
    this.current = Math.min(Math.max(this.current + delta, 0), this.max - 1);
  }

  scale(ms: number): number {
    return ms * (this.current + 1);
  }
}

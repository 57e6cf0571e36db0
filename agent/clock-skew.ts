// How far this host's clock is from the manager's, for agentctl doctor. Neither the TLS
// handshake (Go's ServerHello random carries no time; TLS 1.3 none at all) nor gRPC (grpc-go
// sends no Date header) nor the heartbeat carries the manager's time. What does is the
// scheduler's own stamp: a task newly assigned to this node arrives in state ASSIGNED with
// `status.timestamp` set by the manager's clock when it scheduled the task (SwarmKit's
// scheduler: "scheduler assigned task to node"), and the dispatcher delivers it within its
// batching window. So local receive time − that stamp = skew + delivery delay, with the delay
// ≥ 0: each sample is an upper bound on (local − manager), and the smallest recent one is the
// estimate (off by at most that delay, typically well under a second). Only tasks from
// INCREMENTAL sets count: a COMPLETE set after a reconnect may carry tasks scheduled while this
// node was away, whose stamps are old. Pure: times are passed in.

/** Samples kept (the newest); enough to ride out a delayed batch. */
const MAX_SAMPLES = 32;

export interface ClockSkewEstimate {
  /** local − manager, in ms (positive: this host is ahead), from the smallest recent sample. */
  skewMs: number;
  samples: number;
  /** When the newest sample was taken (ISO, local clock). */
  lastSampleAt: string;
  source: string;
}

export const SKEW_SOURCE = 'scheduler timestamps of newly assigned tasks (local receive time − manager stamp; an upper bound off by the delivery delay)';

export class ClockSkew {
  private readonly samples: number[] = [];
  private lastAt = 0;

  /** One task newly assigned: the manager's stamp and the local time it arrived (ms since epoch). */
  observe(managerMs: number, localMs: number): void {
    if (!Number.isFinite(managerMs) || managerMs <= 0) return;
    this.samples.push(localMs - managerMs);
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    this.lastAt = localMs;
  }

  estimate(): ClockSkewEstimate | undefined {
    if (this.samples.length === 0) return undefined;
    return { skewMs: Math.min(...this.samples), samples: this.samples.length, lastSampleAt: new Date(this.lastAt).toISOString(), source: SKEW_SOURCE };
  }
}

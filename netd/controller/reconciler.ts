// Runs the data plane's reconcile once desired state is back (after a restart), then every
// interval, and logs what it had to fix: kernel state changed behind berth's back (a link set
// down, an FDB entry deleted, a stray veth) is put right without waiting for the next task event.
import { NetdError, NetdValidationError, ReconcileError } from '../errors.js';
import type { ReconcileReport } from '../types.js';
import type { LogFn } from '../../base/index.js';

export interface Reconcilable {
  reconcile(): Promise<ReconcileReport>;
}

export interface ReconcilerOptions {
  /** Time from the end of one run to the start of the next; 0 = only the first run. */
  intervalMs: number;
  /**
   * The first run waits for this. Until the owner has handed desired state back (the tasks a
   * restarted agent resumes), live links look stale and reconcile would delete them.
   */
  ready?: Promise<unknown>;
  log: LogFn;
}

export type ReconcileTrigger = 'start' | 'periodic';

export interface ReconcileRun {
  trigger: ReconcileTrigger;
  at: string;
  ms: number;
  /** Only the kinds with a non-zero count. */
  fixed: Partial<ReconcileReport>;
  error?: string;
}

/** Every run since start: what they repaired, by kind (non-zero only), and how many failed. */
export interface ReconcileTotals {
  repaired: Partial<ReconcileReport>;
  failed: number;
}

/** The kinds of a report with a non-zero count, in the report's order. */
export function fixedCounts(r: ReconcileReport): Partial<ReconcileReport> {
  return Object.fromEntries(Object.entries(r).filter(([, n]) => n !== 0)) as Partial<ReconcileReport>;
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private stopped = false;
  private started = false;
  private count = 0;
  private lastRun: ReconcileRun | undefined;
  private readonly sums: ReconcileTotals = { repaired: {}, failed: 0 };

  constructor(
    private readonly plane: Reconcilable,
    private readonly opts: ReconcilerOptions,
  ) {
    if (!(Number.isInteger(opts.intervalMs) && opts.intervalMs >= 0)) {
      throw new NetdValidationError('E_INVALID_OPTION', `reconcile interval ${String(opts.intervalMs)} ms must be a non-negative integer`);
    }
  }

  /** Runs completed so far (for status and tests). */
  get runs(): number {
    return this.count;
  }

  get last(): ReconcileRun | undefined {
    return this.lastRun;
  }

  get totals(): ReconcileTotals {
    return { repaired: { ...this.sums.repaired }, failed: this.sums.failed };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const ready = this.opts.ready ?? Promise.resolve();
    ready.then(
      () => this.kick('start'),
      (err: unknown) => {
        this.opts.log('warn', 'data plane: waiting for desired state failed; reconciling anyway', { err: (err as Error).message });
        this.kick('start');
      },
    );
  }

  private kick(trigger: ReconcileTrigger): void {
    if (this.stopped) return;
    this.current = this.run(trigger).finally(() => {
      this.current = undefined;
      if (!this.stopped && this.opts.intervalMs > 0) {
        this.timer = setTimeout(() => this.kick('periodic'), this.opts.intervalMs);
        // A pending reconcile alone must not keep agentd alive.
        this.timer.unref();
      }
    });
  }

  private async run(trigger: ReconcileTrigger): Promise<void> {
    const t0 = performance.now();
    let report: ReconcileReport | undefined;
    let error: Error | undefined;
    try {
      report = await this.plane.reconcile();
    } catch (err) {
      if (this.stopped && err instanceof NetdError && err.code === 'E_CLOSED') return;
      error = err as Error;
      if (err instanceof ReconcileError) report = err.report;
    }
    const ms = Math.round(performance.now() - t0);
    const fixed = report ? fixedCounts(report) : {};
    this.count++;
    if (error) this.sums.failed++;
    for (const [kind, n] of Object.entries(fixed) as Array<[keyof ReconcileReport, number]>) this.sums.repaired[kind] = (this.sums.repaired[kind] ?? 0) + n;
    this.lastRun = { trigger, at: new Date().toISOString(), ms, fixed, ...(error ? { error: error.message } : {}) };
    if (error) {
      this.opts.log('warn', 'data plane reconcile failed', { trigger, ms, err: error.message, code: (error as { code?: string }).code, ...fixed });
    } else if (Object.keys(fixed).length > 0) {
      this.opts.log('info', 'data plane drift repaired', { trigger, ms, ...fixed });
    } else {
      this.opts.log('debug', 'data plane reconciled: no drift', { trigger, ms });
    }
  }

  /** No run starts after this; resolves once a run in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }
}

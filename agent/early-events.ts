// Events published before agentd's metrics exist (prom-client and the collectors load once the
// node is Ready, off the path to it): held, then published again once the metrics subscribe,
// so the first heartbeat or an early VIP sync still lands in their histograms.
import type { EventChannel } from '../base/index.js';

/** More than start-up ever publishes; past it, events are not held (the metrics miss them). */
const DEFAULT_HOLD_LIMIT = 1_000;

export class EarlyEvents {
  private readonly held: Array<() => void> = [];
  private readonly unsubscribe: Array<() => void> = [];

  constructor(channels: ReadonlyArray<EventChannel<object>>, limit = DEFAULT_HOLD_LIMIT) {
    for (const channel of channels) {
      this.unsubscribe.push(
        channel.subscribe((event) => {
          if (this.held.length < limit) this.held.push(() => channel.publish(event));
        }),
      );
    }
  }

  /** Stops holding and publishes what was held, in order, to the subscribers there are now. */
  replay(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    for (const publish of this.held.splice(0)) publish();
  }
}

// What the embedded DNS publishes for observers (agentd's metrics): figures that exist only as
// events. Local answers are computed synchronously in the turn the query arrives, so only
// forwarded queries have a latency of their own.
import { EventChannel } from '../base/index.js';

/** One query handed to the host's resolvers: from the hand-off to the reply (or the give-up). */
export interface DnsForwardEvent {
  ms: number;
  /** false: no upstream answered (or the forwarder was full); the client got SERVFAIL. */
  answered: boolean;
}

export const dnsForwardEvents = new EventChannel<DnsForwardEvent>('berth:dns:forward');

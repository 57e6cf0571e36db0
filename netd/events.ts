// What netd publishes for observers (agentd's metrics): figures that exist only as events.
import { EventChannel } from '../base/index.js';

/** One load-balancer apply for a network: the spec handed to the VIP backend, and how long the kernel took. */
export interface VipSyncEvent {
  network: string;
  backend: string;
  ms: number;
  ok: boolean;
}

export const vipSyncEvents = new EventChannel<VipSyncEvent>('berth:netd:vip-sync');

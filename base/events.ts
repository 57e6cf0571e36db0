// Typed events on node:diagnostics_channel, for observers (agentd's metrics) that the
// publisher must not know about: the session, the worker, the load balancers and the DNS
// forwarder say what happened; whoever cares subscribes by name. Publishing while nobody
// subscribes is one property read, so hot paths may publish. (undici does the same.)
import diagnostics from 'node:diagnostics_channel';

export class EventChannel<T extends object> {
  private readonly channel: diagnostics.Channel;

  constructor(readonly name: string) {
    this.channel = diagnostics.channel(name);
  }

  get hasSubscribers(): boolean {
    return this.channel.hasSubscribers;
  }

  publish(event: T): void {
    if (this.channel.hasSubscribers) this.channel.publish(event);
  }

  /** Returns the unsubscribe function. */
  subscribe(fn: (event: T) => void): () => void {
    const listener = (message: unknown) => fn(message as T);
    diagnostics.subscribe(this.name, listener);
    return () => void diagnostics.unsubscribe(this.name, listener);
  }
}

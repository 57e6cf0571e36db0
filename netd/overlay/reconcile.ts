// The reconcile walk over everything berth owns on this host: namespaces, then networks, then
// sandboxes.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ReconcileError } from '../errors.js';
import type { ReconcileReport } from '../types.js';
import { emptyReport, type OverlayContext } from './context.js';
import { isOwnedNetnsName, overlayNetnsName } from './naming.js';
import type { Networks } from './networks.js';
import { netnsIdentity } from '../netns.js';
import type { Sandboxes } from './sandboxes.js';

/** The walk behind OverlayDataPlane.reconcile(); runs under the lock. */
export async function reconcile(ctx: OverlayContext, networks: Networks, sandboxes: Sandboxes): Promise<ReconcileReport> {
  ctx.assertOpen();
  return ctx.locked(async () => {
    const report = emptyReport();
    const failures: string[] = [];
    const attempt = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        failures.push((err as Error).message);
      }
    };
    const wanted = new Set<string>();
    for (const state of ctx.networks.values()) {
      if (state.pinned || state.lb || state.sandboxes.size > 0) wanted.add(overlayNetnsName(ctx.prefix, state.net.id));
    }
    for (const name of existsSync(ctx.netnsDir) ? readdirSync(ctx.netnsDir) : []) {
      if (isOwnedNetnsName(ctx.prefix, name) && !wanted.has(name)) {
        await attempt(async () => {
          await networks.destroyNamespace(join(ctx.netnsDir, name));
          report.networksRemoved++;
        });
      }
    }
    for (const state of ctx.networks.values()) {
      if (state.pinned || state.lb || state.sandboxes.size > 0) await attempt(() => networks.program(state, report, true));
    }
    for (const sandbox of ctx.sandboxes.values()) {
      // Gone, or the path now names another namespace (a reused pid): nothing of ours is there.
      const id = netnsIdentity(sandbox.netnsPath);
      if (id !== undefined && id === sandbox.netnsId) await attempt(() => sandboxes.plumb(sandbox, report));
    }
    if (failures.length > 0) throw new ReconcileError(report, failures);
    return report;
  });
}

// A stand-in for agentd's data-plane half, run as a child process so a test can kill -9 it:
// programs one overlay network across several test hosts from a JSON plan, optionally
// reconciles, prints one "READY <json>" line and then idles until it is killed.
import { OverlayDataPlane } from '../../netd/overlay/index.js';
import type { OverlayNetworkSpec, ReconcileReport } from '../../netd/types.js';

export interface ProgrammerPlan {
  network: OverlayNetworkSpec;
  netnsDir: string;
  reconcile: boolean;
  hosts: Array<{ netnsPath: string; address: string; prefix: string; taskId: string; sandbox: string; ip: string }>;
}

const IDLE_MS = 60_000;

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as ProgrammerPlan;
  const reports: ReconcileReport[] = [];
  for (const h of plan.hosts) {
    const plane = await OverlayDataPlane.open({ advertiseAddress: h.address, hostNetns: h.netnsPath, netnsDir: plan.netnsDir, namePrefix: h.prefix });
    // Desired state first (as agentd restores it from its task store and the cluster tables),
    // then reconcile: nothing that already works is recreated.
    const peers = plan.hosts.filter((p) => p !== h).map((p) => ({ network: plan.network.id, ip: p.ip, vtep: p.address }));
    await plane.applyEndpoints(peers);
    await plane.attachSandbox(h.taskId, h.sandbox, [{ networkId: plan.network.id, network: plan.network, addresses: [h.ip] }]);
    if (plan.reconcile) reports.push(await plane.reconcile());
  }
  process.stdout.write(`READY ${JSON.stringify({ reports })}\n`);
  setInterval(() => undefined, IDLE_MS);
}

main().catch((err: unknown) => {
  process.stderr.write(`netd-programmer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

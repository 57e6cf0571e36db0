// agentd against a real Swarm manager (dockerd swarm init) in another host namespace.
import test from 'ava';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected } from '../../scripts/lib/agentd.js';
import { waitFor } from '../../scripts/lib/exec.js';

interface Cluster {
  underlay: Underlay;
  manager: SwarmManager;
  workerEngine: PrivateDockerd;
}

async function cluster(t: { teardown(fn: () => Promise<void> | void): void }): Promise<Cluster> {
  const underlay = await createHosts(2);
  t.teardown(() => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  t.teardown(() => manager.stop());
  const workerEngine = await startDockerd({ host: underlay.hosts[1]!, extraArgs: ['--label', 'berth.test=interop'] });
  t.teardown(() => workerEngine.stop());
  return { underlay, manager, workerEngine };
}

/** The fields of `docker node inspect` these tests read. */
interface NodeInspect {
  Description: {
    Hostname: string;
    Platform: { OS: string; Architecture: string };
    Resources: { NanoCPUs: number; MemoryBytes: number };
    Engine: { EngineVersion: string; Labels: Record<string, string>; Plugins: Array<{ Type: string; Name: string }> };
    TLSInfo?: { TrustRoot?: string };
  };
  Spec: { Role: string };
  Status: { State: string };
}

async function nodeInspect(manager: SwarmManager, id: string): Promise<NodeInspect> {
  const out = (await manager.dockerd.docker(['node', 'inspect', id])).stdout;
  return (JSON.parse(out) as NodeInspect[])[0]!;
}

test('agentd joins, shows Ready/Active with its description, sees drain, keeps its id across restarts', async (t) => {
  const c = await cluster(t);
  const host = c.underlay.hosts[1]!;
  const hostname = `berth-${host.name}`;
  const t0 = Date.now();
  const a = await startAgentd({ host, dockerd: c.workerEngine, manager: c.manager.address, joinToken: c.manager.workerToken, hostname });
  t.teardown(() => a.destroy());
  const st = await waitConnected(a);
  t.log(`join ${st.timings.joinMs?.toFixed(0)} ms, session open ${st.timings.sessionOpenMs.toFixed(0)} ms, heartbeat rtt ${st.timings.heartbeatRttMs.toFixed(1)} ms, process start → connected ${Date.now() - t0} ms`);
  t.regex(st.nodeId, /^[a-z0-9]{25}$/);
  // The start-up timeline: every step of a fresh join, in the order they depend on each other.
  const steps = st.timings.startup;
  t.log(`start-up steps (ms since process start): ${JSON.stringify(steps)}`);
  const order = ['modulesLoaded', 'configResolved', 'stateDirLocked', 'controlSocketOpen', 'identityLoaded', 'rootCaFetched', 'certificateIssued', 'sessionOpen', 'firstHeartbeat'] as const;
  order.forEach((step, i) => {
    if (i > 0) t.true(steps[step]! >= steps[order[i - 1]!]!, `${step} after ${order[i - 1]}: ${JSON.stringify(steps)}`);
  });
  t.true(steps.nodeDescribed! <= steps.sessionOpen! && steps.csrMade! <= steps.certificateIssued!, JSON.stringify(steps));
  t.is(st.role, 'swarm-worker');

  const line = await waitFor(
    'docker node ls to show the berth node Ready/Active',
    async () => {
      const ls = (await c.manager.dockerd.docker(['node', 'ls', '--format', '{{.ID}} {{.Hostname}} {{.Status}} {{.Availability}}'])).stdout;
      return ls.split('\n').find((l) => l.startsWith(`${st.nodeId} ${hostname} Ready Active`));
    },
    15_000,
  );
  t.truthy(line);

  const node = await nodeInspect(c.manager, st.nodeId);
  const d = node.Description;
  t.is(d.Hostname, hostname);
  t.is(d.Platform.OS, 'linux');
  t.is(d.Platform.Architecture, 'x86_64');
  // What Docker's own worker reports: its engine's NCPU and MemTotal.
  const [ncpu = 0, memTotal = 0] = (await c.workerEngine.docker(['info', '--format', '{{.NCPU}} {{.MemTotal}}'])).stdout.trim().split(' ').map(Number);
  t.is(d.Resources.NanoCPUs, ncpu * 1e9, JSON.stringify(d.Resources));
  t.is(d.Resources.MemoryBytes, memTotal, JSON.stringify(d.Resources));
  t.regex(d.Engine.EngineVersion, /^20\.10\./);
  t.is(d.Engine.Labels['berth.test'], 'interop');
  const plugins = d.Engine.Plugins.map((p) => `${p.Type}/${p.Name}`);
  for (const p of ['Network/overlay', 'Network/bridge', 'Network/host', 'Network/null', 'Volume/local']) t.true(plugins.includes(p), plugins.join(','));
  t.truthy(d.TLSInfo?.TrustRoot);
  t.is(node.Spec.Role, 'worker');

  // Drain is seen by agentd.
  await c.manager.dockerd.docker(['node', 'update', '--availability', 'drain', st.nodeId]);
  await waitFor('agentd to see drain', async () => (await a.status()).availability === 'drain', 15_000);
  await c.manager.dockerd.docker(['node', 'update', '--availability', 'active', st.nodeId]);
  await waitFor('agentd to see active', async () => (await a.status()).availability === 'active', 15_000);

  // Restart keeps the node id and does not re-join (no token this time).
  await a.kill('SIGTERM');
  const b = await startAgentd({ host, dockerd: c.workerEngine, manager: c.manager.address, hostname, stateDir: a.stateDir });
  t.teardown(() => b.destroy());
  const st2 = await waitConnected(b);
  t.is(st2.nodeId, st.nodeId);
  t.is(st2.timings.joinMs, undefined);
  t.is(st2.timings.startup.rootCaFetched, undefined, 'a restart does not join');
  t.true(st2.timings.startup.sessionOpen! > st2.timings.startup.identityLoaded!, JSON.stringify(st2.timings.startup));
  const nodes = (await c.manager.dockerd.docker(['node', 'ls', '-q'])).stdout.trim().split('\n');
  t.is(nodes.length, 2, 'no second node was created');
});

test('a wrong token and a wrong CA digest each fail with a message that says which', async (t) => {
  const c = await cluster(t);
  const host = c.underlay.hosts[1]!;
  const token = c.manager.workerToken;
  const [, , digest, secret] = token.split('-') as [string, string, string, string];
  const badSecret = `SWMTKN-1-${digest}-${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`;
  const badDigest = `SWMTKN-1-${digest.slice(0, -1)}${digest.endsWith('a') ? 'b' : 'a'}-${secret}`;

  const a = await startAgentd({ host, dockerd: c.workerEngine, manager: c.manager.address, joinToken: badSecret });
  t.teardown(() => a.destroy());
  t.is(await a.exited, 1);
  t.regex(a.logs(), /rejected the join token: A valid join token is necessary to join this cluster.*\[E_TOKEN_REJECTED\]/);

  const b = await startAgentd({ host, dockerd: c.workerEngine, manager: c.manager.address, joinToken: badDigest });
  t.teardown(() => b.destroy());
  t.is(await b.exited, 1);
  t.regex(b.logs(), /root CA does not match the join token: token pins sha256:[0-9a-f]{64}, manager sent sha256:[0-9a-f]{64}.*\[E_CA_DIGEST_MISMATCH\]/);
});

test('a root CA rotation on the manager completes with the berth node renewed onto the new root', async (t) => {
  const c = await cluster(t);
  const host = c.underlay.hosts[1]!;
  const a = await startAgentd({ host, dockerd: c.workerEngine, manager: c.manager.address, joinToken: c.manager.workerToken });
  t.teardown(() => a.destroy());
  const before = await waitConnected(a);
  // Blocks until every node holds a certificate from the new root: it only returns if
  // agentd followed the rotation announced in its session.
  await c.manager.dockerd.docker(['swarm', 'ca', '--rotate', '--quiet'], 120_000);
  const after = await waitFor('agentd connected with a renewed certificate', async () => {
    const s = await a.status();
    return s.connected && s.certificate.fingerprint !== before.certificate.fingerprint ? s : undefined;
  }, 30_000);
  t.is(after.nodeId, before.nodeId);
  const newRoot = (await c.manager.dockerd.docker(['info', '--format', '{{json .Swarm.Cluster.TLSInfo.TrustRoot}}'])).stdout.trim();
  const node = await nodeInspect(c.manager, before.nodeId);
  t.is(JSON.stringify(node.Description.TLSInfo?.TrustRoot), newRoot);
  t.is(node.Status.State, 'ready');
});

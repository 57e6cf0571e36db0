// Issue #6: "a task's names resolve before it is reported RUNNING". A real manager schedules 20
// replicas onto a berth node; the test watches agentd's own task states (the moment berth
// reports RUNNING) and, as each task turns RUNNING, asks the embedded DNS from inside a prober
// task's sandbox for the task's name and for tasks.<service>. Queries go out over a UDP socket
// opened in the prober's netns (no docker exec per query), so they are sent within
// milliseconds of RUNNING showing up. Any answer without the task's address is a miss.
import test from 'ava';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { controlRequest } from '../../agent/control.js';
import type { TaskView } from '../../agent/worker/worker.js';
import { RCode, RRType } from '../../dns/wire.js';
import { encodeQuery } from '../harness/dns-query.js';
import { openSocketInNetnsAsync } from '../../native/index.js';
import { isNativeAddonBuilt } from '../harness/native-build.js';
import { startBerthCluster } from '../harness/cluster.js';
import { HarnessError, sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const REPLICAS = 20;
const SERVICE = 'burst';
const NETWORK = 'burstnet';
const SUBNET_PREFIX = '10.126.0.';
/** Short, so RUNNING is seen (and names asked) within a few ms of agentd reporting it. */
const POLL_MS = 20;
const CONTROL_TIMEOUT_MS = 10_000;
/** A lost datagram on a loaded 2-core machine is not a miss: retry, generously. */
const QUERY_TIMEOUT_MS = 3_000;
const QUERY_ATTEMPTS = 3;
const ALL_RUNNING_TIMEOUT_MS = 8 * 60_000;
const DNS_PORT = 53;
const EMBEDDED_DNS = '127.0.0.11';
const EDNS_SIZE = 4096;

interface Dns2Packet {
  header: { id: number; rcode: number };
  answers: Array<{ name: string; type: number; address?: string }>;
}
const dns2 = createRequire(import.meta.url)('dns2') as { Packet: { parse(b: Buffer): Dns2Packet } };

/** A resolver bound inside a sandbox's netns, asking 127.0.0.11 as the task's own libc would. */
class SandboxResolver {
  private nextId = 1;
  private readonly pending = new Map<number, (p: Dns2Packet) => void>();

  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (m) => {
      const p = dns2.Packet.parse(m);
      const done = this.pending.get(p.header.id);
      this.pending.delete(p.header.id);
      done?.(p);
    });
  }

  static async open(netnsPath: string): Promise<SandboxResolver> {
    const fd = await openSocketInNetnsAsync(netnsPath, { type: 'udp', address: '127.0.0.1', port: 0 });
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind({ fd }, resolve));
    return new SandboxResolver(sock);
  }

  /** rcode and A addresses; rejects only when every attempt went unanswered. */
  async a(name: string): Promise<{ rcode: number; addresses: string[] }> {
    for (let attempt = 1; attempt <= QUERY_ATTEMPTS; attempt++) {
      const id = this.nextId++ & 0xffff;
      const reply = new Promise<Dns2Packet | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          resolve(undefined);
        }, QUERY_TIMEOUT_MS);
        this.pending.set(id, (p) => {
          clearTimeout(timer);
          resolve(p);
        });
      });
      this.sock.send(encodeQuery(id, name, RRType.A, { edns: EDNS_SIZE }), DNS_PORT, EMBEDDED_DNS);
      const p = await reply;
      if (p) return { rcode: p.header.rcode, addresses: p.answers.filter((r) => r.type === RRType.A).map((r) => r.address!) };
    }
    throw new HarnessError('E_DNS_TIMEOUT', `no answer for ${name} from ${EMBEDDED_DNS} in ${QUERY_ATTEMPTS} attempts`);
  }

  close(): void {
    this.sock.close();
  }
}

interface Check {
  task: TaskView;
  name: string;
  /** ms from seeing RUNNING to the task-name answer. */
  ms: number;
  address: string | undefined;
  miss: string | undefined;
}

test('20 tasks: each task name and tasks.<svc> resolve as soon as agentd reports RUNNING (0 misses)', async (t) => {
  t.true(isNativeAddonBuilt(), 'native addon not built: run `npm run build:native` first');
  const { manager, engine, agentd, status: st } = await startBerthCluster(t);
  t.is(st.dataPlane, 'on');
  const tasks = async () => (await controlRequest(agentd.controlSocket, '/tasks', CONTROL_TIMEOUT_MS)) as TaskView[];

  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', `${SUBNET_PREFIX}0/24`, NETWORK]);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`, '--network', NETWORK];
  await d.docker([...common, '--name', 'prober', TEST_IMAGE, 'sleep', '3600']);
  const prober = await waitFor('the prober RUNNING on the berth node', async () => (await tasks()).find((x) => x.service === 'prober' && x.state === 'RUNNING'), 120_000, 200);
  const pid = (await engine.docker(['inspect', '-f', '{{.State.Pid}}', `berth-sandbox.${prober.id}`])).stdout.trim();
  const resolver = await SandboxResolver.open(`/proc/${pid}/ns/net`);
  t.teardown(() => resolver.close());

  const checks = new Map<string, Promise<Check>>();
  const check = async (task: TaskView, seenAt: number): Promise<Check> => {
    const name = `${SERVICE}.${task.slot}.${task.id}`;
    const own = await resolver.a(name);
    const ms = Date.now() - seenAt;
    const all = await resolver.a(`tasks.${SERVICE}`);
    const address = own.addresses[0];
    let miss: string | undefined;
    if (own.rcode !== RCode.NOERROR || own.addresses.length !== 1) miss = `${name}: rcode ${own.rcode}, ${JSON.stringify(own.addresses)}`;
    else if (!all.addresses.includes(address!)) miss = `tasks.${SERVICE} (${JSON.stringify(all.addresses)}) lacks ${name} (${address})`;
    return { task, name, ms, address, miss };
  };

  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`, '--network', NETWORK, '--name', SERVICE, '--replicas', String(REPLICAS), TEST_IMAGE, 'sleep', '3600']);
  const runningSlots = new Set<string>();
  const deadline = Date.now() + ALL_RUNNING_TIMEOUT_MS;
  while (runningSlots.size < REPLICAS) {
    if (Date.now() > deadline) throw new HarnessError('E_TIMEOUT', `${runningSlots.size}/${REPLICAS} tasks RUNNING after ${ALL_RUNNING_TIMEOUT_MS} ms`);
    const seenAt = Date.now();
    // A control request slowed by load only delays this poll.
    for (const task of await tasks().catch((): TaskView[] => [])) {
      if (task.service !== SERVICE || checks.has(task.id)) continue;
      if (task.err) t.log(`task ${task.id} (slot ${task.slot}) ${task.state}: ${task.err}`);
      if (task.state !== 'RUNNING') continue;
      // Not awaited: the next poll must not wait for this task's answers.
      checks.set(task.id, check(task, seenAt));
      runningSlots.add(task.slot);
    }
    await sleep(POLL_MS);
  }

  const results = await Promise.all(checks.values());
  const misses = results.filter((r) => r.miss !== undefined);
  t.log(`${results.length} tasks checked at RUNNING; task-name answers ${Math.min(...results.map((r) => r.ms))}-${Math.max(...results.map((r) => r.ms))} ms after RUNNING was seen`);
  t.deepEqual(
    misses.map((m) => m.miss),
    [],
    `${misses.length} misses`,
  );

  // The answers were the manager's addresses for those tasks, one each.
  for (const r of results) {
    const allocated = (await d.docker(['inspect', '-f', `{{range .NetworksAttachments}}{{if eq .Network.Spec.Name "${NETWORK}"}}{{index .Addresses 0}}{{end}}{{end}}`, r.task.id])).stdout.trim();
    t.is(allocated.split('/')[0], r.address, `${r.name}: berth answered ${r.address}, the manager allocated ${allocated}`);
  }
  t.is(new Set(results.map((r) => r.address)).size, results.length, 'distinct addresses');
});

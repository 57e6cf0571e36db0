// berth as operators run it: a cluster of qemu VMs booted with Debian's kernel (IPVS, XFRM, ...),
// systemd as each guest's init, provisioned by the scripts the Vagrantfile runs
// (scripts/provision/): a Swarm manager and two berth workers (agentd from the built package under
// its systemd unit). One boot for the whole file: the tests run in order and each builds on the
// cluster the previous ones left. The mixed cluster is made last from the same three guests:
// berth2 leaves (drained, agentd removed as the package's prerm removes it, the node removed from
// the swarm) and joins again as Docker's own worker (scripts/provision/docker-worker.sh); a
// fourth TCG guest made the host (2 cores, shared) too slow for the manager to answer heartbeats.
// Load balancers are checked beside the answers: IPVS in berth's network namespaces (and in
// Docker's load-balancer sandboxes on its nodes) must list exactly the running replicas' addresses.
import test from 'ava';
import { join } from 'node:path';
import { waitFor } from '../../scripts/lib/exec.js';
import { PROJECT_ROOT, TEST_IMAGE } from '../../scripts/lib/images.js';
import { extractedBerthPackage } from '../harness/berth-package.js';
import { startVmCluster, type ClusterGuest, type VmCluster } from '../harness/vm-cluster.js';

const PROVISION = join(PROJECT_ROOT, 'scripts', 'provision');
const IMAGES = join(PROJECT_ROOT, '.cache', 'images');
/** The provisioning's shared folder in every guest (Vagrant's would be the synced /vagrant). */
const SHARE_DIR = '/srv/berth-share';
const NET = '10.98.0';
const MANAGER = { name: 'mgr', address: `${NET}.10/24` };
const BERTH_WORKERS = [
  { name: 'berth1', address: `${NET}.11/24` },
  { name: 'berth2', address: `${NET}.12/24` },
];
/** Every qemu dies after this, whatever the tests do: the file's whole budget. */
const LIFETIME_MS = 45 * 60_000;
const BOOT_TIMEOUT_MS = 8 * 60_000;
const REBOOT_TIMEOUT_MS = 6 * 60_000;
const PROVISION_TIMEOUT_MS = 6 * 60_000;
const SETTLE_TIMEOUT_MS = 5 * 60_000;
const DISPATCHER_HEARTBEAT = '20s';
const HTTP_PORT = 8080;
const WEB_PUBLISHED = 18080;
const DEMO_PUBLISHED = 8080;
const REQUESTS = 12;
/** A load balancer follows the tasks within seconds; the gossip of a far node's change may take a bulk sync (30 s). */
const IPVS_SETTLE_MS = 90_000;
const BERTH_NETNS_DIR = '/run/berth/netns';
/** Where Docker's engine pins its sandboxes' namespaces (its exec-root's netns/). */
const DOCKER_NETNS_DIR = '/var/run/docker/netns';
/** Docker's routing-mesh sandbox on each of its nodes. */
const DOCKER_INGRESS_NETNS = `${DOCKER_NETNS_DIR}/ingress_sbox`;
const SERVE = `mkdir -p /www && hostname > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`;

let cluster: VmCluster | undefined;
const g = (name: string): ClusterGuest => cluster!.guest(name);
const mgr = () => g(MANAGER.name);
const allGuests = () => cluster!.guests;

test.before(async (t) => {
  const packaged = Date.now();
  const pkg = await extractedBerthPackage();
  t.log(`package ${pkg.built ? 'built and extracted' : 'unchanged, extraction reused'} in ${Date.now() - packaged} ms`);
  const started = Date.now();
  cluster = await startVmCluster(
    { guests: [MANAGER, ...BERTH_WORKERS], lifetimeMs: LIFETIME_MS, lowerDir: pkg.root, shareDir: SHARE_DIR },
    BOOT_TIMEOUT_MS,
  );
  t.log(`booted in ${Date.now() - started} ms: ${cluster.guests.map((x) => `${x.name} ${x.bootTimesMs[0]} ms`).join(', ')}`);
});

test.after.always(async () => {
  await cluster?.stop();
});

function sq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Task containers of `service` on `guest` (running ones). */
async function taskContainers(guest: ClusterGuest, service: string): Promise<string[]> {
  const out = await guest.sh(`docker ps -q --no-trunc --filter label=com.docker.swarm.service.name=${service}`);
  return out.split('\n').filter((l) => l.length > 0).sort();
}

/** Runs `cmd` in the first running task of `service` on `guest`. */
async function inTask(guest: ClusterGuest, service: string, cmd: string): Promise<string> {
  const [id] = await taskContainers(guest, service);
  if (!id) return `no ${service} task on ${guest.name}`;
  const r = await guest.exec(`docker exec ${id} sh -c ${sq(cmd)}`, 30_000);
  return r.rc === 0 ? r.stdout.trim() : `failed(${r.rc}): ${r.stderr.trim()}`;
}

/** Who answers `url` from a task, `n` times: answers by name. */
async function answersFromTask(guest: ClusterGuest, service: string, url: string, n = REQUESTS): Promise<Map<string, number>> {
  const out = await inTask(guest, service, `for i in $(seq 1 ${n}); do timeout 5 wget -qO- ${url} || echo FAIL; done`);
  const seen = new Map<string, number>();
  for (const line of out.split('\n')) seen.set(line.trim(), (seen.get(line.trim()) ?? 0) + 1);
  return seen;
}

async function curlFrom(guest: ClusterGuest, url: string): Promise<string> {
  const r = await guest.exec(`curl -s --max-time 5 ${url}`, 30_000);
  return r.rc === 0 ? r.stdout.trim() : `failed(${r.rc})`;
}

async function runningTasks(service: string): Promise<Array<{ name: string; node: string }>> {
  const out = await mgr().sh(`docker service ps ${service} --filter desired-state=running --format '{{.Name}} {{.Node}} {{.CurrentState}}'`);
  return out
    .split('\n')
    .filter((l) => / Running /.test(`${l} `))
    .map((l) => {
      const [name, node] = l.split(' ');
      return { name: name!, node: node! };
    });
}

async function waitServiceRunning(t: { log: (s: string) => void }, service: string, replicas: number, nodes?: string[]): Promise<void> {
  await waitFor(
    `${service}: ${replicas} tasks Running${nodes ? ` on ${nodes.join(', ')}` : ''}`,
    async () => {
      const tasks = await runningTasks(service);
      if (tasks.length !== replicas) return false;
      return !nodes || nodes.every((n) => tasks.some((x) => x.node === n));
    },
    SETTLE_TIMEOUT_MS,
    2000,
  ).catch(async (err: Error) => {
    t.log(await mgr().sh(`docker service ps --no-trunc ${service}`).catch((e: Error) => e.message));
    throw err;
  });
}

async function agentdUnit(guest: ClusterGuest): Promise<Record<string, string>> {
  const out = await guest.sh('systemctl show agentd -p ActiveState,SubState,NotifyAccess,WatchdogUSec,Type,MainPID');
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

async function nodeStates(): Promise<Map<string, string>> {
  const out = await mgr().sh(`docker node ls --format '{{.Hostname}} {{.Status}}'`);
  return new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

async function agentdLogTail(guest: ClusterGuest): Promise<string> {
  return guest.sh('journalctl -u agentd --no-pager -n 40').catch((e: Error) => e.message);
}

/**
 * The addresses (no prefix) of `service`'s Running tasks on `network`. A task the manager wants
 * running but cannot place (Pending) has an address too, and no backend anywhere.
 */
async function runningAddresses(service: string, network: string): Promise<string[]> {
  const format = `{{range .NetworksAttachments}}{{if eq .Network.Spec.Name "${network}"}}{{range .Addresses}}{{.}} {{end}}{{end}}{{end}}`;
  const out = await mgr().sh(
    `docker service ps --no-trunc --filter desired-state=running --format '{{.ID}} {{.CurrentState}}' ${service} | awk '$2 == "Running" {print $1}' | while read -r t; do docker inspect --format ${sq(format)} "$t"; done`,
  );
  return out.split(/\s+/).filter((a) => a.length > 0).map((a) => a.split('/')[0]!).sort();
}

/** Each IPVS service's real servers in `ipvsadm -Ln` output as "a,b,c", services without any left out, sorted. */
function ipvsBackendSets(list: string): string[] {
  const services: string[][] = [];
  for (const line of list.split('\n')) {
    if (/^(FWM|TCP|UDP|SCTP)\s/.test(line)) services.push([]);
    const real = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):\d+\s/.exec(line);
    if (real && services.length > 0) services.at(-1)!.push(real[1]!);
  }
  return services.filter((x) => x.length > 0).map((x) => x.sort().join(',')).sort();
}

/** Where a node balances: a namespace whose IPVS table `ipvsadm -Ln` lists. */
interface IpvsPlace {
  label: string;
  list(): Promise<string>;
}

/** berth's load balancer for `network` on `guest`: the network's own namespace (netd/overlay). */
function berthLoadBalancer(guest: ClusterGuest, network: string): IpvsPlace {
  return {
    label: `berth's ${network} namespace on ${guest.name}`,
    list: async () => {
      const id = (await mgr().sh(`docker network inspect --format '{{.Id}}' ${network}`)).trim();
      return guest.sh(`ns=$(ls -d ${BERTH_NETNS_DIR}/*ov-${id.slice(0, 12)}) && nsenter --net="$ns" ipvsadm -Ln`);
    },
  };
}

/**
 * Docker's load balancer for `network` on `guest`: one namespace per node and network,
 * lb_<first 9 characters of the network id> beside ingress_sbox (not in the task containers).
 */
function dockerLoadBalancer(guest: ClusterGuest, network: string): IpvsPlace {
  return {
    label: `Docker's ${network} load-balancer sandbox on ${guest.name}`,
    list: async () => {
      const id = (await mgr().sh(`docker network inspect --format '{{.Id}}' ${network}`)).trim();
      return guest.sh(`nsenter --net=${DOCKER_NETNS_DIR}/lb_${id.slice(0, 9)} ipvsadm -Ln`);
    },
  };
}

function dockerIngress(guest: ClusterGuest): IpvsPlace {
  return { label: `Docker's ingress sandbox on ${guest.name}`, list: () => guest.sh(`nsenter --net=${DOCKER_INGRESS_NETNS} ipvsadm -Ln`) };
}

/** Waits until IPVS at `place` balances each of `services` over exactly its running replicas on `network`: none missing, none stale. */
async function checkIpvs(t: { log: (s: string) => void }, what: string, place: IpvsPlace, network: string, services: readonly string[]): Promise<void> {
  let expected: string[] = [];
  let listed: string[] = [];
  await waitFor(
    `${what}: IPVS in ${place.label} lists exactly the running replicas of ${services.join(', ')} on ${network}`,
    async () => {
      expected = (await Promise.all(services.map((s) => runningAddresses(s, network)))).filter((a) => a.length > 0).map((a) => a.join(',')).sort();
      listed = ipvsBackendSets(await place.list());
      return JSON.stringify(listed) === JSON.stringify(expected);
    },
    IPVS_SETTLE_MS,
    2000,
  ).catch((err: Error) => {
    t.log(`${what}: ${place.label}: running replicas ${JSON.stringify(expected)}, IPVS lists ${JSON.stringify(listed)}`);
    throw err;
  });
  t.log(`${what}: IPVS in ${place.label}: ${JSON.stringify(listed)}`);
}

test.serial('provisioning: a manager and two berth workers under systemd (READY, watchdog), all Ready; doctor reports IPVS', async (t) => {
  const started = Date.now();
  await mgr().sh(`bash ${PROVISION}/manager.sh ${MANAGER.address.split('/')[0]} ${SHARE_DIR}`, PROVISION_TIMEOUT_MS);
  await Promise.all(BERTH_WORKERS.map((w) => g(w.name).sh(`bash ${PROVISION}/berth-worker.sh ${w.address.split('/')[0]} ${SHARE_DIR}`, PROVISION_TIMEOUT_MS)));
  t.log(`provisioned in ${Date.now() - started} ms`);

  for (const w of BERTH_WORKERS) {
    const unit = await agentdUnit(g(w.name));
    t.log(`${w.name} agentd: ${JSON.stringify(unit)}`);
    // Type=notify: `active (running)` is reached only through READY=1.
    t.is(unit.Type, 'notify');
    t.is(unit.ActiveState, 'active', await agentdLogTail(g(w.name)));
    t.is(unit.SubState, 'running');
    t.is(unit.NotifyAccess, 'main');
    t.not(unit.WatchdogUSec, '0', 'the watchdog is on');
    t.is((await g(w.name).sh('systemctl is-enabled agentd')).trim(), 'enabled');
  }
  const states = await waitFor(
    'both berth nodes Ready on the manager',
    async () => {
      const s = await nodeStates();
      return BERTH_WORKERS.every((w) => s.get(w.name) === 'Ready') ? s : undefined;
    },
    SETTLE_TIMEOUT_MS,
    2000,
  );
  t.log(JSON.stringify(Object.fromEntries(states)));
  // Under TCG on a busy 2-core host an agentd start takes ~30 s of the guest's time; the manager
  // marks a node Down after 3 missed heartbeat periods (5 s by default) and moves its tasks away.
  // A longer period keeps a restart a restart here; on real VMs the default is fine.
  await mgr().sh(`docker swarm update --dispatcher-heartbeat ${DISPATCHER_HEARTBEAT}`);
  // The berth nodes are labelled so services can be placed on them (or kept off them).
  for (const w of BERTH_WORKERS) await mgr().sh(`docker node update --label-add berth=true ${w.name}`);

  for (const w of BERTH_WORKERS) {
    const doctor = JSON.parse(await g(w.name).sh('agentctl doctor --json || true')) as unknown;
    const checks = (Array.isArray(doctor) ? doctor : ((doctor as { checks?: unknown[] }).checks ?? [])) as Array<{ id: string; status?: string; data?: { inUse?: string; ipvs?: boolean } }>;
    const vip = checks.find((c) => c.id === 'vip-backend');
    t.log(`${w.name} doctor vip-backend: ${JSON.stringify(vip)}`);
    t.is(vip?.data?.ipvs, true, `${w.name}: doctor sees IPVS in the kernel`);
    t.is(vip?.data?.inUse, 'ipvs', `${w.name}: agentd uses IPVS`);
  }

  // The test image in every engine (no registry here; Vagrant's demo pulls busybox instead).
  await Promise.all(
    allGuests().map((x) =>
      x.sh(`docker import -c 'ENV PATH=/bin:/sbin' -c 'ENTRYPOINT ["/sbin/tini", "--"]' -c 'CMD ["/bin/sh"]' ${IMAGES}/busybox.tar ${TEST_IMAGE} >/dev/null`, PROVISION_TIMEOUT_MS),
    ),
  );
});

const BERTH_NAMES = BERTH_WORKERS.map((w) => w.name);
const WEB_TASK = /^web\.\d\./;

type Log = { log: (s: string) => void; is: (a: unknown, b: unknown, m?: string) => void; true: (a: boolean, m?: string) => void };

/**
 * web (one replica per node of `nodes`) answers by VIP from the client on each of `nodes` by every
 * replica; tasks.web lists exactly them; IPVS in each node's appnet and ingress namespaces balances
 * over exactly the running replicas; the published port answers on the manager's and each node's address.
 */
async function checkWeb(t: Log, what: string, nodes: readonly string[] = BERTH_NAMES): Promise<void> {
  const vip = (await mgr().sh(`docker service inspect web --format '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}'`)).trim().split(' ').find((a) => a.startsWith('10.77.'))!.split('/')[0]!;
  for (const w of nodes) {
    let seen = new Map<string, number>();
    await waitFor(
      `${what}: web's VIP answers from the client on ${w} by all ${nodes.length} replicas`,
      async () => {
        seen = await answersFromTask(g(w), 'client', `http://${vip}:${HTTP_PORT}/`);
        return [...seen.keys()].every((k) => WEB_TASK.test(k)) && seen.size === nodes.length;
      },
      SETTLE_TIMEOUT_MS,
      2000,
    ).catch(async (err: Error) => {
      t.log(`${w}: ${JSON.stringify(Object.fromEntries(seen))}`);
      t.log(await agentdLogTail(g(w)));
      throw err;
    });
    t.log(`${what}: VIP ${vip} from ${w}: ${JSON.stringify(Object.fromEntries(seen))}`);
    // By name too: the embedded DNS answers the VIP; tasks.web lists exactly the running replicas.
    const tasksIps = (await inTask(g(w), 'client', 'nslookup tasks.web 127.0.0.11')).match(/Address: 10\.77\.\d+\.\d+/g) ?? [];
    t.is(tasksIps.length, nodes.length, `${what}: tasks.web from ${w} lists the running replicas, no stale name: ${tasksIps.join(', ')}`);
    await checkIpvs(t, what, berthLoadBalancer(g(w), 'appnet'), 'appnet', ['web', 'client']);
    await checkIpvs(t, what, berthLoadBalancer(g(w), 'ingress'), 'ingress', ['web']);
  }
  for (const target of [mgr(), ...nodes.map(g)]) {
    await waitFor(
      `${what}: published port ${WEB_PUBLISHED} answers on ${target.name} (${target.ip})`,
      async () => WEB_TASK.test(await curlFrom(mgr(), `http://${target.ip}:${WEB_PUBLISHED}/`)),
      SETTLE_TIMEOUT_MS,
      2000,
    );
  }
  const fromOutside = new Set<string>();
  for (let i = 0; i < REQUESTS; i++) fromOutside.add(await curlFrom(mgr(), `http://${g(nodes[0]!).ip}:${WEB_PUBLISHED}/`));
  t.true([...fromOutside].every((a) => WEB_TASK.test(a)), `${what}: every request by published port answered by a replica: ${[...fromOutside].join(', ')}`);
}

test.serial('a service spread over both berth workers answers by VIP from a task and by published port on every VM', async (t) => {
  await mgr().sh('docker network create --driver overlay --attachable --subnet 10.77.0.0/24 appnet');
  const placement = '--constraint node.labels.berth==true';
  await mgr().sh(
    `docker service create --detach --no-resolve-image --name web --network appnet --replicas 2 --replicas-max-per-node 1 ${placement} --hostname '{{.Task.Name}}' --publish published=${WEB_PUBLISHED},target=${HTTP_PORT} ${TEST_IMAGE} sh -c ${sq(SERVE)}`,
  );
  await mgr().sh(`docker service create --detach --no-resolve-image --name client --network appnet --mode global ${placement} ${TEST_IMAGE} sleep 100000`);
  await waitServiceRunning(t, 'web', 2, BERTH_NAMES);
  await waitServiceRunning(t, 'client', 2, BERTH_NAMES);
  await checkWeb(t, 'first start');
});

test.serial('systemctl restart agentd on a worker keeps its tasks running and reachable', async (t) => {
  const w = g(BERTH_NAMES[0]!);
  const before = { web: await taskContainers(w, 'web'), client: await taskContainers(w, 'client'), pid: (await agentdUnit(w)).MainPID };
  t.is(before.web.length, 1);
  await w.sh('systemctl restart agentd', SETTLE_TIMEOUT_MS);
  const unit = await agentdUnit(w);
  t.is(unit.ActiveState, 'active');
  t.not(unit.MainPID, before.pid, 'a new agentd process');
  t.deepEqual(await taskContainers(w, 'web'), before.web, 'the same web container runs on');
  t.deepEqual(await taskContainers(w, 'client'), before.client, 'the same client container runs on');
  await checkWeb(t, 'after restart');
  t.deepEqual(await taskContainers(w, 'web'), before.web, 'still the same web container');
});

test.serial('a rebooted berth worker comes back Ready with its tasks, no stale name or backend', async (t) => {
  const w = g(BERTH_NAMES[1]!);
  const ms = await w.reboot(REBOOT_TIMEOUT_MS);
  t.log(`${w.name} rebooted in ${ms} ms`);
  await waitFor('agentd active after the reboot', async () => (await agentdUnit(w)).ActiveState === 'active', SETTLE_TIMEOUT_MS, 2000).catch(async (err: Error) => {
    t.log(await agentdLogTail(w));
    throw err;
  });
  await waitFor('the rebooted worker Ready', async () => (await nodeStates()).get(w.name) === 'Ready', SETTLE_TIMEOUT_MS, 2000).catch(async (err: Error) => {
    t.log(`node states: ${JSON.stringify(Object.fromEntries(await nodeStates()))}`);
    t.log(await agentdLogTail(w));
    throw err;
  });
  await waitServiceRunning(t, 'web', 2, BERTH_NAMES);
  await waitServiceRunning(t, 'client', 2, BERTH_NAMES);
  // Stale containers of the previous boot's tasks are not left running beside the new ones.
  t.is((await taskContainers(w, 'web')).length, 1, 'one web task container on the rebooted worker');
  await checkWeb(t, 'after reboot');
});

test.serial('berth2 leaves: drained, agentd removed by the package\'s prerm with nothing of berth left, the node removed; berth1 keeps no stale name or backend', async (t) => {
  const [stays, leaves] = [g(BERTH_NAMES[0]!), g(BERTH_NAMES[1]!)];
  // Draining first lets agentd shut its tasks down itself: names and gossip entries withdrawn.
  await mgr().sh(`docker node update --availability drain ${leaves.name}`);
  await waitServiceRunning(t, 'web', 1, [stays.name]);
  await waitServiceRunning(t, 'client', 1, [stays.name]);
  await waitFor(`no web or client task container left on ${leaves.name}`, async () => (await taskContainers(leaves, 'web')).length + (await taskContainers(leaves, 'client')).length === 0, SETTLE_TIMEOUT_MS, 2000);
  await checkWeb(t, `after ${leaves.name} was drained`, [stays.name]);

  // What `apt-get remove berth` runs first: stop and disable agentd, then `agentd --cleanup`.
  await leaves.sh(`sh ${join(PROJECT_ROOT, 'packaging', 'prerm')} remove`, SETTLE_TIMEOUT_MS);
  t.is((await leaves.exec('systemctl is-active agentd')).stdout.trim(), 'inactive');
  t.is((await leaves.exec('systemctl is-enabled agentd')).stdout.trim(), 'disabled');
  const left = await leaves.sh(
    `ls ${BERTH_NETNS_DIR} 2>/dev/null; ip -br link show berth_gwbridge 2>/dev/null; nft list tables 2>/dev/null | grep -w berth || true`,
  );
  t.is(left.trim(), '', `nothing of berth's left on ${leaves.name} (namespaces, gateway bridge, host rules)`);
  await mgr().sh(`docker node rm --force ${leaves.name}`);
  t.false((await nodeStates()).has(leaves.name), `${leaves.name} is no longer a node of the swarm`);
});

test.serial('mixed cluster: a service over berth1 (berth) and berth2 (Docker\'s worker) answers by VIP from both kinds and by published port on every VM; IPVS on every node lists exactly its replicas', async (t) => {
  const dockerWorker = g(BERTH_NAMES[1]!);
  const workers = BERTH_NAMES;
  const started = Date.now();
  await dockerWorker.sh(`bash ${PROVISION}/docker-worker.sh ${dockerWorker.ip} ${SHARE_DIR}`, PROVISION_TIMEOUT_MS);
  await waitFor(`${dockerWorker.name} Ready as Docker's worker`, async () => (await nodeStates()).get(dockerWorker.name) === 'Ready', SETTLE_TIMEOUT_MS, 2000);
  t.log(`${dockerWorker.name} joined as Docker's worker in ${Date.now() - started} ms`);
  await mgr().sh('docker service rm web client');
  // demo.sh's default placement (node.role==worker) keeps the manager's own engine out: each
  // replica runs on one kind of worker.
  t.log(await mgr().sh(`bash ${PROVISION}/demo.sh ${workers.length} ${workers.length} ${TEST_IMAGE}`, SETTLE_TIMEOUT_MS));
  await mgr().sh(`docker service create --detach --no-resolve-image --name democlient --network demo-net --mode global --constraint node.role==worker ${TEST_IMAGE} sleep 100000`);
  await waitServiceRunning(t, 'demo', workers.length, workers);
  await waitServiceRunning(t, 'democlient', workers.length, workers);
  const demoTask = /^demo\.\d\./;
  for (const from of workers) {
    let seen = new Map<string, number>();
    await waitFor(
      `the demo VIP answers from ${from} by both replicas`,
      async () => {
        seen = await answersFromTask(g(from), 'democlient', `http://demo:${DEMO_PUBLISHED}/`);
        return seen.size === workers.length && [...seen.keys()].every((k) => demoTask.test(k));
      },
      SETTLE_TIMEOUT_MS,
      2000,
    ).catch((err: Error) => {
      t.log(`${from}: ${JSON.stringify(Object.fromEntries(seen))}`);
      throw err;
    });
    t.log(`demo by VIP from ${from}: ${JSON.stringify(Object.fromEntries(seen))}`);
    t.is(seen.size, workers.length, `the demo VIP from ${from}: berth's and Docker's replicas both answer`);
    const tasksIps = (await inTask(g(from), 'democlient', 'nslookup tasks.demo 127.0.0.11')).match(/Address: \d+\.\d+\.\d+\.\d+/g) ?? [];
    // The first Address line is the server's own (127.0.0.11).
    const replicas = tasksIps.filter((a) => !a.startsWith('Address: 127.'));
    t.is(replicas.length, workers.length, `tasks.demo from ${from} lists the two replicas, no stale name: ${replicas.join(', ')}`);
  }
  for (const target of allGuests()) {
    const seen = new Set<string>();
    await waitFor(
      `the demo's published port answers on ${target.name} by berth's and Docker's replicas`,
      async () => {
        const a = await curlFrom(mgr(), `http://${target.ip}:${DEMO_PUBLISHED}/`);
        if (!demoTask.test(a)) return false;
        seen.add(a);
        return seen.size === workers.length;
      },
      SETTLE_TIMEOUT_MS,
      500,
    );
    t.log(`demo by published port on ${target.name}: ${[...seen].join(', ')}`);
    t.is(seen.size, workers.length, `the demo's published port on ${target.name}: both replicas answer`);
  }
  const berth = g(BERTH_NAMES[0]!);
  await checkIpvs(t, 'mixed', berthLoadBalancer(berth, 'demo-net'), 'demo-net', ['demo', 'democlient']);
  await checkIpvs(t, 'mixed', berthLoadBalancer(berth, 'ingress'), 'ingress', ['demo']);
  await checkIpvs(t, 'mixed', dockerIngress(dockerWorker), 'ingress', ['demo']);
  await checkIpvs(t, 'mixed', dockerIngress(mgr()), 'ingress', ['demo']);
  await checkIpvs(t, 'mixed', dockerLoadBalancer(dockerWorker, 'demo-net'), 'demo-net', ['demo', 'democlient']);
});

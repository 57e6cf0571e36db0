import test from 'ava';
import { joinPooledSandbox, translateTask, DEFAULT_STOP_GRACE_MS, type TranslateOptions } from '../../agent/exec/docker/container-config.js';
import { TaskError } from '../../agent/exec/executor.js';
import type { Task } from '../../agent/proto/api.js';
import { configRef, duration, makeTask, secretRef } from './exec-fixture.js';

const NODE = { id: 'node000000000000000000001', hostname: 'berth-1', architecture: 'x86_64', os: 'linux' };
const OPTS: TranslateOptions = { taskDir: '/run/berth/tasks/T', node: NODE };
const SANDBOX: TranslateOptions = { ...OPTS, sandboxImage: 'berth/pause:local' };

function hc(task: Task, opts = OPTS): Record<string, unknown> {
  return translateTask(task, opts).container.body.HostConfig as Record<string, unknown>;
}
function body(task: Task, opts = OPTS): Record<string, unknown> {
  return translateTask(task, opts).container.body;
}
function rejects(t: import('ava').ExecutionContext, task: Task, field: RegExp | string, opts = OPTS): void {
  const err = t.throws(() => translateTask(task, opts), { instanceOf: TaskError });
  t.false(err!.temporary, 'spec errors are not worth retrying');
  if (typeof field === 'string') t.true(err!.message.includes(field), `${err!.message} should name ${field}`);
  else t.regex(err!.message, field);
}

test('image, command and args follow Docker: command replaces the entrypoint, args the cmd', (t) => {
  t.like(body(makeTask({ command: ['/bin/app'], args: ['-v'] })), { Image: 'local/busybox:test', Entrypoint: ['/bin/app'], Cmd: ['-v'] });
  const onlyArgs = body(makeTask({ args: ['sleep', '1'] }));
  t.deepEqual(onlyArgs.Cmd, ['sleep', '1']);
  t.false('Entrypoint' in onlyArgs);
  const none = body(makeTask());
  t.false('Entrypoint' in none);
  t.false('Cmd' in none);
  // Command without args clears the image's CMD, as Docker's executor does.
  t.deepEqual(body(makeTask({ command: ['/bin/app'] })).Cmd, []);
});

test('empty image and non-container runtimes are rejected', (t) => {
  rejects(t, makeTask({ image: ' ' }), 'spec.container.image');
  const attach = makeTask();
  (attach.spec as { container: unknown }).container = null;
  rejects(t, attach, /only container tasks/);
});

test('name and labels: Docker-compatible name, system labels win over spec and task labels', (t) => {
  const task = makeTask({ labels: { a: '1', 'com.docker.swarm.task.id': 'spoofed' } }, { annotations: { name: '', labels: { b: '2' }, indices: [] } });
  const plan = translateTask(task, OPTS);
  t.is(plan.container.name, `web.1.${task.id}`);
  t.like(plan.container.body.Labels as object, {
    a: '1',
    b: '2',
    'com.docker.swarm.task': '',
    'com.docker.swarm.task.id': task.id,
    'com.docker.swarm.task.name': `web.1.${task.id}`,
    'com.docker.swarm.service.id': task.service_id,
    'com.docker.swarm.service.name': 'web',
    'com.docker.swarm.node.id': task.node_id,
    'io.berth.role': 'task',
    'io.berth.task.id': task.id,
  });
  const global = makeTask({}, { slot: '0' });
  t.is(translateTask(global, OPTS).container.name, `web.${global.node_id}.${global.id}`);
  const named = makeTask({}, { annotations: { name: 'custom.name', labels: {}, indices: [] } });
  t.is(translateTask(named, OPTS).container.name, 'custom.name');
  const stack = makeTask({}, { service_annotations: { name: 'app_web', labels: { 'com.docker.stack.namespace': 'app' }, indices: [] } });
  t.is((body(stack).Labels as Record<string, string>)['com.docker.stack.namespace'], 'app');
});

test('env, user, groups, workdir, tty, stdin, read-only rootfs, init', (t) => {
  const b = body(makeTask({ env: ['A=1', 'B'], user: '1000:1000', groups: ['audio'], dir: '/srv', tty: true, open_stdin: true, read_only: true, init: { value: true } }));
  t.like(b, { Env: ['A=1', 'B'], User: '1000:1000', WorkingDir: '/srv', Tty: true, OpenStdin: true });
  t.like(b.HostConfig as object, { GroupAdd: ['audio'], ReadonlyRootfs: true, Init: true });
  t.is(hc(makeTask({ init: { value: false } })).Init, false);
  t.is(hc(makeTask()).Init, null, 'unset init leaves the engine default');
});

test('service templates expand in env values, hostname and mounts', (t) => {
  const task = makeTask({
    env: ['WHO={{.Service.Name}}-{{.Task.Slot}}', 'NODE={{.Node.Hostname}}', 'RAW'],
    hostname: '{{.Node.Hostname}}-{{.Task.Slot}}',
    mounts: [{ type: 1, source: 'data-{{.Task.Slot}}', target: '/data/{{.Service.Name}}', readonly: false, consistency: 0, bind_options: null, volume_options: { nocopy: false, labels: { owner: '{{.Service.ID}}' }, driver_config: null, subpath: '' }, tmpfs_options: null }],
  } as never);
  const b = body(task);
  t.deepEqual(b.Env, ['WHO=web-1', 'NODE=berth-1', 'RAW']);
  t.is(b.Hostname, 'berth-1-1');
  t.like((b.HostConfig as { Mounts: object[] }).Mounts[0]!, { Type: 'volume', Source: 'data-1', Target: '/data/web', VolumeOptions: { NoCopy: false, Labels: { owner: task.service_id } } });
  rejects(t, makeTask({ env: ['X={{.Nope}}'] }), 'spec.container.env[0]');
  rejects(t, makeTask({ hostname: '{{printf "%s" .Task.ID}}' }), 'spec.container.hostname');
});

test('mounts: bind, volume and tmpfs with their options', (t) => {
  const mounts = hc(
    makeTask({
      mounts: [
        { type: 0, source: '/srv', target: '/srv', readonly: true, consistency: 2, bind_options: { propagation: 4, nonrecursive: true, createmountpoint: false, readonlynonrecursive: false, readonlyforcerecursive: false }, volume_options: null, tmpfs_options: null },
        { type: 1, source: '', target: '/anon', readonly: false, consistency: 0, bind_options: null, volume_options: { nocopy: true, labels: {}, driver_config: { name: 'local', options: { type: 'tmpfs' } }, subpath: '' }, tmpfs_options: null },
        { type: 2, source: '', target: '/scratch', readonly: false, consistency: 0, bind_options: null, volume_options: null, tmpfs_options: { size_bytes: '1048576', mode: 0o1777, options: '' } },
      ],
    } as never),
  ).Mounts as object[];
  t.deepEqual(mounts.slice(0, 3), [
    { Target: '/srv', ReadOnly: true, Consistency: 'cached', Type: 'bind', Source: '/srv', BindOptions: { Propagation: 'rslave', NonRecursive: true } },
    { Target: '/anon', ReadOnly: false, Type: 'volume', Source: '', VolumeOptions: { NoCopy: true, Labels: {}, DriverConfig: { Name: 'local', Options: { type: 'tmpfs' } } } },
    { Target: '/scratch', ReadOnly: false, Type: 'tmpfs', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } },
  ]);
});

const mount = (patch: Record<string, unknown>) => ({ type: 0, source: '/a', target: '/b', readonly: false, consistency: 0, bind_options: null, volume_options: null, tmpfs_options: null, ...patch });
const bindOpts = (patch: Record<string, unknown>) => ({ propagation: 0, nonrecursive: false, createmountpoint: false, readonlynonrecursive: false, readonlyforcerecursive: false, ...patch });

for (const [why, m, field] of [
  ['relative target', mount({ target: 'b' }), 'mounts[0].target'],
  ['relative bind source', mount({ source: 'a' }), 'mounts[0].source'],
  ['absolute volume name', mount({ type: 1, source: '/v' }), 'mounts[0].source'],
  ['tmpfs with a source', mount({ type: 2, source: 'x' }), 'mounts[0].source'],
  ['named pipe', mount({ type: 3 }), 'mounts[0].type'],
  ['CSI cluster volume', mount({ type: 4 }), 'mounts[0].type'],
  ['unknown type', mount({ type: 9 }), 'mounts[0].type'],
  ['createmountpoint (API 1.42)', mount({ bind_options: bindOpts({ createmountpoint: true }) }), 'bind_options.createmountpoint'],
  ['readonlynonrecursive (API 1.44)', mount({ bind_options: bindOpts({ readonlynonrecursive: true }) }), 'bind_options.readonlynonrecursive'],
  ['readonlyforcerecursive (API 1.44)', mount({ bind_options: bindOpts({ readonlyforcerecursive: true }) }), 'bind_options.readonlyforcerecursive'],
  ['unknown propagation', mount({ bind_options: bindOpts({ propagation: 7 }) }), 'bind_options.propagation'],
  ['volume subpath (API 1.45)', mount({ type: 1, source: 'v', volume_options: { nocopy: false, labels: {}, driver_config: null, subpath: 'x' } }), 'volume_options.subpath'],
  ['tmpfs options (API 1.46)', mount({ type: 2, source: '', tmpfs_options: { size_bytes: '0', mode: 0, options: 'exec' } }), 'tmpfs_options.options'],
  ['bind options on a volume', mount({ type: 1, source: 'v', bind_options: bindOpts({}) }), 'mounts[0].bind_options'],
  ['tmpfs options on a bind', mount({ tmpfs_options: { size_bytes: '0', mode: 0, options: '' } }), 'mounts[0].tmpfs_options'],
  ['unknown consistency', mount({ consistency: 8 }), 'mounts[0].consistency'],
] as const) {
  test(`mount rejected: ${why}`, (t) => rejects(t, makeTask({ mounts: [m] } as never), field));
}

test('resources: limits as Docker applies them, reservations left to the scheduler', (t) => {
  const h = hc(makeTask({}, { resources: { limits: { nano_cpus: '1500000000', memory_bytes: '67108864', generic: [] }, reservations: { nano_cpus: '500000000', memory_bytes: '33554432', generic: [] }, swap_bytes: { value: '1048576' }, memory_swappiness: { value: '10' } } }));
  t.like(h, { NanoCpus: 1.5e9, Memory: 67108864, MemorySwap: 67108864 + 1048576, MemorySwappiness: 10 });
  t.false('MemoryReservation' in h);
  t.is(hc(makeTask({}, { resources: { limits: { nano_cpus: '0', memory_bytes: '1000', generic: [] }, reservations: null, swap_bytes: { value: '-1' }, memory_swappiness: null } })).MemorySwap, -1);
  const none = hc(makeTask());
  for (const k of ['NanoCpus', 'Memory', 'MemorySwap', 'MemorySwappiness']) t.false(k in none, k);
  rejects(t, makeTask({}, { resources: { limits: { nano_cpus: '0', memory_bytes: '0', generic: [{ discrete_resource_spec: { kind: 'gpu', value: '1' } }] }, reservations: null } }), 'spec.resources.limits.generic');
  rejects(t, makeTask({}, { resources: { limits: null, reservations: null, memory_swappiness: { value: '101' } } }), 'memory_swappiness');
});

test('assigned generic resources become DOCKER_RESOURCE_* variables', (t) => {
  const task = makeTask({ env: ['A=1'] }, {
    assigned_generic_resources: [
      { named_resource_spec: { kind: 'gpu', value: 'UUID1' } },
      { named_resource_spec: { kind: 'gpu', value: 'UUID2' } },
      { discrete_resource_spec: { kind: 'ssd', value: '2' } },
    ],
  } as never);
  t.deepEqual(body(task).Env, ['A=1', 'DOCKER_RESOURCE_GPU=UUID1,UUID2', 'DOCKER_RESOURCE_SSD=2']);
});

test('pids limit, ulimits, oom score, sysctls, capabilities', (t) => {
  const h = hc(makeTask({ pidsLimit: '64', ulimits: [{ name: 'nofile', soft: '1024', hard: '2048' }], oom_score_adj: '-500', sysctls: { 'net.core.somaxconn': '1024' }, capability_add: ['CAP_NET_ADMIN'], capability_drop: ['CAP_MKNOD'] }));
  t.like(h, { PidsLimit: 64, OomScoreAdj: -500, Sysctls: { 'net.core.somaxconn': '1024' }, CapAdd: ['CAP_NET_ADMIN'], CapDrop: ['CAP_MKNOD'] });
  t.deepEqual(h.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
  const plain = hc(makeTask());
  t.false('PidsLimit' in plain);
  t.false('OomScoreAdj' in plain);
  rejects(t, makeTask({ oom_score_adj: '1001' }), 'oom_score_adj');
  rejects(t, makeTask({ ulimits: [{ name: '', soft: '1', hard: '1' }] }), 'ulimits[0].name');
});

test('stop signal and grace period', (t) => {
  const p = translateTask(makeTask({ stop_signal: 'SIGINT', stop_grace_period: duration(2500) }), OPTS);
  t.is(p.stopSignal, 'SIGINT');
  t.is(p.stopGraceMs, 2500);
  t.like(p.container.body, { StopSignal: 'SIGINT', StopTimeout: 3 });
  const d = translateTask(makeTask(), OPTS);
  t.is(d.stopGraceMs, DEFAULT_STOP_GRACE_MS);
  t.false('StopSignal' in d.container.body);
  t.false('StopTimeout' in d.container.body, 'unset grace leaves the engine default');
  t.is(translateTask(makeTask({ stop_grace_period: duration(0) }), OPTS).container.body.StopTimeout, 0);
});

test('healthcheck override, and start_interval (API 1.44) rejected', (t) => {
  const b = body(makeTask({ healthcheck: { test: ['CMD-SHELL', 'true'], interval: duration(1500), timeout: duration(1000), retries: 3, start_period: duration(0), start_interval: null } }));
  t.deepEqual(b.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 1.5e9, Timeout: 1e9, Retries: 3, StartPeriod: 0 });
  t.deepEqual(body(makeTask({ healthcheck: { test: ['NONE'], interval: null, timeout: null, retries: 0, start_period: null, start_interval: null } })).Healthcheck, { Test: ['NONE'], Interval: 0, Timeout: 0, Retries: 0, StartPeriod: 0 });
  t.false('Healthcheck' in body(makeTask()));
  rejects(t, makeTask({ healthcheck: { test: ['CMD', 'true'], interval: null, timeout: null, retries: 0, start_period: null, start_interval: duration(100) } }), 'healthcheck.start_interval');
});

test('privileges: SELinux, seccomp, AppArmor, no-new-privileges; credential specs rejected', (t) => {
  const h = hc(
    makeTask({
      privileges: {
        credential_spec: null,
        selinux_context: { disable: false, user: 'u', role: 'r', type: 't', level: 'l' },
        seccomp: { mode: 2, profile: Buffer.from('{"defaultAction":"SCMP_ACT_ALLOW"}') },
        apparmor: { mode: 1 },
        no_new_privileges: true,
      },
    } as never),
  );
  t.deepEqual(h.SecurityOpt, ['label=user:u', 'label=role:r', 'label=level:l', 'label=type:t', 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', 'apparmor=unconfined', 'no-new-privileges=true']);
  t.deepEqual(hc(makeTask({ privileges: { credential_spec: null, selinux_context: { disable: true, user: '', role: '', type: '', level: '' }, seccomp: { mode: 1, profile: Buffer.alloc(0) }, apparmor: { mode: 0 }, no_new_privileges: false } } as never)).SecurityOpt, ['label=disable', 'seccomp=unconfined']);
  t.false('SecurityOpt' in hc(makeTask()));
  rejects(t, makeTask({ privileges: { credential_spec: { file: 'x.json', source: 'file' }, selinux_context: null, seccomp: null, apparmor: null, no_new_privileges: false } } as never), 'privileges.credential_spec');
  rejects(t, makeTask({ privileges: { credential_spec: null, selinux_context: null, seccomp: { mode: 2, profile: Buffer.from('{not json') }, apparmor: null, no_new_privileges: false } } as never), 'seccomp.profile');
});

test('isolation other than default and CSI volumes are rejected', (t) => {
  rejects(t, makeTask({ isolation: 2 } as never), 'spec.container.isolation');
  rejects(t, makeTask({}, { volumes: [{ id: 'v', source: 's', target: '/t' }] } as never), 'volumes');
  t.notThrows(() => translateTask(makeTask({}, { endpoint: { spec: null, ports: [{ name: '', protocol: 0, target_port: 80, published_port: 8080, publish_mode: 0 }], virtual_ips: [] } } as never), OPTS));
});

test('host-mode ports: engine port bindings on an engine network (dynamic when unpublished), none when berth plumbs the netns', (t) => {
  const ports = { endpoint: { spec: null, ports: [{ name: '', protocol: 0, target_port: 80, published_port: 8080, publish_mode: 1 }, { name: '', protocol: 1, target_port: 53, published_port: 0, publish_mode: 1 }, { name: '', protocol: 0, target_port: 81, published_port: 9090, publish_mode: 0 }], virtual_ips: [] } };
  const bridged = translateTask(makeTask({}, ports as never), { ...OPTS, networkMode: 'bridge' });
  t.deepEqual((bridged.container.body.HostConfig as Record<string, unknown>).PortBindings, { '80/tcp': [{ HostPort: '8080' }], '53/udp': [{ HostPort: '' }] });
  t.deepEqual(bridged.container.body.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  const sandboxed = translateTask(makeTask({}, ports as never), { ...OPTS, networkMode: 'bridge', sandboxImage: 'pause' });
  t.deepEqual((sandboxed.sandbox?.body.HostConfig as Record<string, unknown>).PortBindings, { '80/tcp': [{ HostPort: '8080' }], '53/udp': [{ HostPort: '' }] }, 'on the container that owns the netns');
  t.false('PortBindings' in (sandboxed.container.body.HostConfig as Record<string, unknown>));
  const plumbed = translateTask(makeTask({}, ports as never), { ...OPTS, networkMode: 'none', sandboxImage: 'pause' });
  t.false('PortBindings' in (plumbed.sandbox?.body.HostConfig as Record<string, unknown>), "netd's host rules publish them");
  rejects(t, makeTask({}, { endpoint: { spec: null, ports: [{ name: '', protocol: 9, target_port: 80, published_port: 8080, publish_mode: 1 }], virtual_ips: [] } } as never), /endpoint\.ports\[0\]\.protocol/);
});

test('log driver comes from the task', (t) => {
  t.deepEqual(hc(makeTask({}, { log_driver: { name: 'json-file', options: { 'max-size': '1m' } } })).LogConfig, { Type: 'json-file', Config: { 'max-size': '1m' } });
  t.false('LogConfig' in hc(makeTask()));
});

test('extra hosts: every name of an entry, IPs checked', (t) => {
  t.deepEqual(hc(makeTask({ hosts: ['10.0.0.1 db db.local', '::1 v6'] })).ExtraHosts, ['db:10.0.0.1', 'db.local:10.0.0.1', 'v6:::1']);
  rejects(t, makeTask({ hosts: ['10.0.0.1'] }), 'spec.container.hosts[0]');
  rejects(t, makeTask({ hosts: ['nothost db'] }), 'spec.container.hosts[0]');
});

test('resolv.conf points at the embedded DNS with the spec search domains; nameservers become upstreams', (t) => {
  const plan = translateTask(makeTask({ dns_config: { nameservers: ['1.1.1.1'], search: ['corp.example'], options: ['timeout:2'] } }), OPTS);
  t.is(plan.resolvConf, '# Written by berth: the embedded DNS server answers at 127.0.0.11.\nsearch corp.example\nnameserver 127.0.0.11\noptions ndots:0 timeout:2\n');
  t.deepEqual(plan.dnsUpstreams, ['1.1.1.1']);
  const h = plan.container.body.HostConfig as { Mounts: Array<Record<string, unknown>>; Dns?: unknown };
  t.deepEqual(h.Mounts.at(-1), { Type: 'bind', Source: '/run/berth/tasks/T/resolv.conf', Target: '/etc/resolv.conf', ReadOnly: true });
  t.false('Dns' in h, 'the engine gets no DNS settings: resolv.conf is ours');
  t.regex(translateTask(makeTask({ dns_config: { nameservers: [], search: [], options: ['ndots:3'] } }), OPTS).resolvConf!, /options ndots:3\n$/);
  rejects(t, makeTask({ dns_config: { nameservers: ['dns.example'], search: [], options: [] } }), 'dns_config.nameservers[0]');
  rejects(t, makeTask({ dns_config: { nameservers: [], search: ['a b'], options: [] } }), 'dns_config.search[0]');
  rejects(t, makeTask({ dns_config: { nameservers: [], search: [], options: ['x\nnameserver 6.6.6.6'] } }), 'dns_config.options[0]');
});

test("a user's own /etc/resolv.conf (mount or config) wins over berth's", (t) => {
  const viaMount = translateTask(makeTask({ mounts: [mount({ source: '/etc/resolv.conf', target: '/etc/resolv.conf' })] } as never), OPTS);
  t.is(viaMount.resolvConf, undefined);
  const viaConfig = translateTask(makeTask({ configs: [configRef('c1', 'resolv', '/etc/resolv.conf')] } as never), OPTS);
  t.is(viaConfig.resolvConf, undefined);
  t.is((viaConfig.container.body.HostConfig as { Mounts: unknown[] }).Mounts.length, 1);
});

test('secrets and configs become read-only bind mounts from the task directory', (t) => {
  const plan = translateTask(makeTask({ secrets: [secretRef('s1', 'db_pass', 'db_pass', { uid: '1000', gid: '1001', mode: 0o400 })], configs: [configRef('c1', 'app.conf', '/etc/app.conf')] } as never), OPTS);
  t.deepEqual(
    plan.files.map((f) => [f.kind, f.target, f.uid, f.gid, f.mode, f.hostPath]),
    [
      ['secret', '/run/secrets/db_pass', 1000, 1001, 0o400, 'secrets/0-s1'],
      ['config', '/etc/app.conf', 0, 0, 0o444, 'configs/0-c1'],
    ],
  );
  const mounts = (plan.container.body.HostConfig as { Mounts: unknown[] }).Mounts;
  t.deepEqual(mounts.slice(0, 2), [
    { Type: 'bind', Source: '/run/berth/tasks/T/secrets/0-s1', Target: '/run/secrets/db_pass', ReadOnly: true },
    { Type: 'bind', Source: '/run/berth/tasks/T/configs/0-c1', Target: '/etc/app.conf', ReadOnly: true },
  ]);
  rejects(t, makeTask({ secrets: [secretRef('s1', 'x', '/data/x')], mounts: [mount({ target: '/data/x' })] } as never), /mounts\[0\]\.target.*secret "x"/);
  rejects(t, makeTask({ mounts: [mount({ target: '/d' }), mount({ target: '/d/' })] } as never), /mounts\[1\]\.target.*mounts\[0\]/);
});

test('sandbox berth plumbs: made without the engine networking; the task joins its netns and gets berth\'s /etc/hosts', (t) => {
  const task = makeTask({ hostname: 'h1', hosts: ['10.0.0.1 db'] });
  const plan = translateTask(task, SANDBOX);
  t.deepEqual(plan.sandbox, {
    name: `berth-sandbox.${task.id}`,
    body: {
      Image: 'berth/pause:local',
      Hostname: 'h1',
      NetworkDisabled: true,
      Labels: { 'io.berth.role': 'sandbox', 'io.berth.task.id': task.id, 'io.berth.service.id': task.service_id, 'io.berth.node.id': task.node_id },
      HostConfig: {
        NetworkMode: 'none',
        Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1', 'net.ipv6.conf.lo.disable_ipv6': '1' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
        RestartPolicy: { Name: 'no' },
        LogConfig: { Type: 'none', Config: {} },
      },
    },
  });
  t.deepEqual(plan.hosts, { extraHosts: ['db:10.0.0.1'], addresses: [] });
  const h = plan.container.body.HostConfig as Record<string, unknown>;
  t.false('SecurityOpt' in h, "the task keeps the engine's default seccomp profile");
  t.deepEqual(h.CapDrop, [], 'and its capabilities');
  t.is(h.NetworkMode, `container:berth-sandbox.${task.id}`);
  t.false('ExtraHosts' in h, 'the engine refuses extra hosts with a container network mode');
  t.false('Hostname' in plan.container.body, 'the engine refuses a hostname with a container network mode');
  t.deepEqual((h.Mounts as Array<{ Target: string }>).map((m) => m.Target), ['/etc/resolv.conf', '/etc/hosts']);
  t.like((h.Mounts as unknown[])[1] as object, { Type: 'bind', Source: '/run/berth/tasks/T/hosts', ReadOnly: true });
  // Without a sandbox the task container owns them.
  const own = translateTask(task, OPTS);
  t.is(own.sandbox, undefined);
  t.is(own.hosts, undefined);
  t.like(own.container.body, { Hostname: 'h1' });
  t.like(own.container.body.HostConfig as object, { NetworkMode: 'none', ExtraHosts: ['db:10.0.0.1'] });
  // A sandbox on the engine's bridge keeps the engine's networking, and its hosts file.
  const bridged = translateTask(task, { ...SANDBOX, networkMode: 'bridge', embeddedDns: false });
  t.false('NetworkDisabled' in bridged.sandbox!.body);
  t.like(bridged.sandbox!.body.HostConfig as object, { NetworkMode: 'bridge', ExtraHosts: ['db:10.0.0.1'] });
  t.is(bridged.hosts, undefined);
});

test("berth's /etc/hosts lists the task's addresses on its networks, not ingress; a user's own /etc/hosts wins", (t) => {
  const attachment = (id: string, address: string, ingress = false) => ({ network: { id, spec: { annotations: { name: id }, ingress } }, addresses: [address], aliases: [], driver_attachment_opts: {} });
  const task = makeTask({}, { networks: [attachment('ingress', '10.0.0.4/24', true), attachment('n1', '10.128.0.3/24'), attachment('n2', 'fd00::3/64')] } as never);
  t.deepEqual(translateTask(task, SANDBOX).hosts, { extraHosts: [], addresses: ['10.128.0.3', 'fd00::3'] });
  const mounted = translateTask(makeTask({ mounts: [mount({ source: '/srv/hosts', target: '/etc/hosts' })] } as never), SANDBOX);
  t.is(mounted.hosts, undefined);
  t.is((mounted.container.body.HostConfig as { Mounts: Array<{ Target: string }> }).Mounts.filter((m) => m.Target === '/etc/hosts').length, 1);
  t.true(mounted.sandbox!.body.NetworkDisabled as boolean, 'the sandbox still needs none of the engine networking');
});

test('predefined host/bridge networks: that network mode, no sandbox, the engine resolv.conf', (t) => {
  const task = makeTask({ dns_config: { nameservers: ['1.1.1.1'], search: ['x'], options: [] } }, {
    networks: [{ network: { id: 'n', spec: { annotations: { name: 'host', labels: { 'com.docker.swarm.predefined': 'true' } } } }, addresses: [], aliases: [], driver_attachment_opts: {} }],
  } as never);
  const plan = translateTask(task, SANDBOX);
  t.is(plan.sandbox, undefined);
  t.is(plan.resolvConf, undefined);
  t.like(plan.container.body.HostConfig as object, { NetworkMode: 'host', Dns: ['1.1.1.1'], DnsSearch: ['x'], DnsOptions: [] });
});

test('pull options carry the registry auth', (t) => {
  t.is(translateTask(makeTask({ pull_options: { registry_auth: 'eyJ1c2VybmFtZSI6InUifQ' } }), OPTS).registryAuth, 'eyJ1c2VybmFtZSI6InUifQ');
  t.is(translateTask(makeTask(), OPTS).registryAuth, undefined);
});

test('a task berth does not plumb: the engine network and resolv.conf, DNS config handed to the engine', (t) => {
  const dns = { nameservers: ['1.1.1.1'], search: ['corp.example'], options: ['ndots:2'] };
  const plain = translateTask(makeTask({ dns_config: dns }), { ...OPTS, networkMode: 'bridge', embeddedDns: false });
  t.is(plain.sandbox, undefined);
  t.is(plain.resolvConf, undefined, 'nothing serves 127.0.0.11 in this netns');
  t.deepEqual(plain.dnsUpstreams, []);
  const h = plain.container.body.HostConfig as { NetworkMode: string; Mounts: Array<{ Target: string }> };
  t.like(h, { NetworkMode: 'bridge', Dns: ['1.1.1.1'], DnsSearch: ['corp.example'], DnsOptions: ['ndots:2'] });
  t.false(h.Mounts.some((m) => m.Target === '/etc/resolv.conf'));
  // With a sandbox the DNS settings go to the container that owns the netns: the engine refuses
  // them next to a container: network mode.
  const boxed = translateTask(makeTask({ dns_config: dns }), { ...SANDBOX, networkMode: 'bridge', embeddedDns: false });
  t.like(boxed.sandbox!.body.HostConfig as object, { NetworkMode: 'bridge', Dns: ['1.1.1.1'] });
  t.false('Dns' in (boxed.container.body.HostConfig as object));
});

test('warm sandbox: a bridge task with nothing of its own netns joins it; everything else about the container stays', (t) => {
  const bridged = { ...OPTS, networkMode: 'bridge' as const, embeddedDns: false };
  const plan = translateTask(makeTask({ args: ['sleep', '1'], env: ['A=1'] }), bridged);
  const joined = joinPooledSandbox(plan, 'berth-sandbox.T');
  t.truthy(joined);
  t.is(joined!.name, plan.container.name);
  const { Hostname: _h, HostConfig: own, ...ownRest } = plan.container.body as { Hostname?: string; HostConfig: Record<string, unknown> };
  const { HostConfig: got, ...gotRest } = joined!.body as { HostConfig: Record<string, unknown> };
  t.deepEqual(gotRest, ownRest, 'only the hostname (the engine refuses it with a container network mode) goes');
  t.is(got.NetworkMode, 'container:berth-sandbox.T');
  const { NetworkMode: _a, ExtraHosts: _b, ...ownHc } = own;
  const { NetworkMode: _c, ...gotHc } = got;
  t.deepEqual(gotHc, ownHc);
});

test('warm sandbox: refused for a task that needs its own netns settings or is not on the bridge', (t) => {
  const bridged = { ...OPTS, networkMode: 'bridge' as const, embeddedDns: false };
  const ports = { endpoint: { spec: null, ports: [{ name: '', protocol: 0, target_port: 80, published_port: 8080, publish_mode: 1 }], virtual_ips: [] } };
  const cases: Array<[string, ReturnType<typeof translateTask>]> = [
    ['published host-mode port', translateTask(makeTask({}, ports as never), bridged)],
    ['hostname', translateTask(makeTask({ hostname: 'h1' }), bridged)],
    ['extra hosts', translateTask(makeTask({ hosts: ['10.0.0.1 db'] }), bridged)],
    ['dns settings', translateTask(makeTask({ dns_config: { nameservers: ['9.9.9.9'], search: [], options: [] } }), bridged)],
    ['no network', translateTask(makeTask(), { ...OPTS, networkMode: 'none' })],
    ['host network', translateTask(makeTask({}, { networks: [{ network: { id: 'n', spec: { annotations: { name: 'host', labels: { 'com.docker.swarm.predefined': 'true' } } } }, addresses: [], aliases: [], driver_attachment_opts: {} }] } as never), bridged)],
    ["berth's own sandbox", translateTask(makeTask(), { ...SANDBOX, networkMode: 'none' })],
  ];
  for (const [what, plan] of cases) t.is(joinPooledSandbox(plan, 'berth-sandbox.T'), undefined, what);
});

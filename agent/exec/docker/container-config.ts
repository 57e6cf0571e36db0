// Task → Docker Engine (API 1.41, Docker 20.10) container configs, as a pure, validated
// function. After translateTask returns, nothing about the spec can fail validation;
// unsupported fields are errors that name the field (the task is REJECTED), never silently
// dropped. Field mapping follows Docker's own swarm executor so a task behaves the same on a
// berth node as on a Docker worker.
import { isIP } from 'node:net';
import { posix } from 'node:path';
import type { ContainerSpec, Mount, Task } from '../../proto/api.js';
import { AppArmorMode, Isolation, MountConsistency, MountPropagation, MountType, PortProtocol, PublishMode, SeccompMode, enumName } from '../../proto/enums.js';
import { TaskError } from '../executor.js';
import { sandboxLabels, sandboxName, serviceName, taskLabels, taskName, taskSlot } from './naming.js';
import type { HostsFileInput } from './hosts-file.js';
import { renderResolvConf } from './resolv-conf.js';
import { taskFiles, type TaskFile } from './task-files.js';
import { TemplateError, expandTemplate, type TemplateContext } from './templates.js';
import { byCodeUnit } from '../../../base/index.js';

/** Docker's default stop grace when the spec gives none. */
export const DEFAULT_STOP_GRACE_MS = 10_000;
const RESOLV_CONF_TARGET = '/etc/resolv.conf';
export const RESOLV_CONF_FILE = 'resolv.conf';
const HOSTS_TARGET = '/etc/hosts';
export const HOSTS_FILE = 'hosts';
/** IPv6 off in a sandbox berth plumbs (its overlays are IPv4), as the engine's libnetwork
 *  sandbox of network mode none had it: no link-local addresses or their traffic on overlays.
 *  A task's own sysctls, applied later as its container joins, still win. */
const IPV6_OFF = { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1', 'net.ipv6.conf.lo.disable_ipv6': '1' };
/**
 * A sandbox berth plumbs runs only berth's pause binary, which waits for a signal: it gets no
 * capabilities and cannot gain any, and no seccomp filter — compiling and loading the engine's
 * default profile was ~¼ of the whole machine's CPU for a pause container's start (20 at once,
 * 9 runs). The task's own container, which joins only its network namespace, keeps its profile.
 */
const PAUSE_CONFINEMENT = { CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'] };
const PREDEFINED_NETWORK_LABEL = 'com.docker.swarm.predefined';
const PREDEFINED_NETWORKS = new Set(['host', 'bridge']);


export interface NodeInfo {
  id: string;
  hostname: string;
  architecture: string;
  os: string;
}

export interface TranslateOptions {
  /** Host directory holding the task's tmpfs (secrets, configs, resolv.conf). */
  taskDir: string;
  /** Run a pause container owning the task's network namespace (image given), or not. */
  sandboxImage?: string | undefined;
  /** The engine network of whichever container owns the netns: none when berth plumbs the
   *  task's networks itself (its overlays, or the gateway bridge alone for a task without
   *  networks), else Docker's default bridge (as on Docker's worker). Default none. */
  networkMode?: 'none' | 'bridge';
  /** berth serves 127.0.0.11 in this task's netns, so resolv.conf is berth's (default true).
   *  Otherwise the engine writes resolv.conf from the spec's DNS config, as Docker's worker does. */
  embeddedDns?: boolean;
  /** For service templates ({{.Node.Hostname}}...). */
  node: NodeInfo;
}

export interface ContainerCreate {
  name: string;
  /** The body of POST /containers/create (name goes in the query). */
  body: Record<string, unknown>;
}

export interface TaskPlan {
  taskId: string;
  image: string;
  /** X-Registry-Auth for pulls; never logged. */
  registryAuth: string | undefined;
  container: ContainerCreate;
  sandbox: ContainerCreate | undefined;
  /** Secrets and configs to write into the task directory before the containers exist. */
  files: TaskFile[];
  /** Contents of taskDir/resolv.conf, when the task gets berth's resolv.conf. */
  resolvConf: string | undefined;
  /** What taskDir/hosts is written from once the sandbox (and so the hostname) exists, when
   *  the task gets berth's /etc/hosts: its sandbox is made without the engine's networking. */
  hosts: HostsFileInput | undefined;
  /** The spec's nameservers: where the embedded DNS forwards this task's other queries. */
  dnsUpstreams: string[];
  stopSignal: string | undefined;
  stopGraceMs: number;
}

function reject(field: string, why: string): never {
  throw new TaskError('E_SPEC_UNSUPPORTED', `${field}: ${why}`);
}

function durationNs(d: { seconds: string; nanos: number } | null | undefined): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds) * 1e9 + d.nanos;
}

function num(v: string | number | null | undefined): number {
  return Number(v ?? 0);
}

export function templateContext(task: Task, node: NodeInfo): TemplateContext {
  return {
    Service: { ID: task.service_id, Name: serviceName(task), Labels: { ...(task.service_annotations?.labels ?? {}) } },
    Node: { ID: task.node_id, Hostname: node.hostname, Platform: { Architecture: node.architecture, OS: node.os } },
    Task: { ID: task.id, Name: taskName(task), Slot: taskSlot(task) },
  };
}

function expander(ctx: TemplateContext) {
  return (value: string, field: string): string => {
    try {
      return expandTemplate(value, ctx);
    } catch (err) {
      if (err instanceof TemplateError) reject(field, `template ${JSON.stringify(value)}: ${err.message}`);
      throw err;
    }
  };
}

type Expand = ReturnType<typeof expander>;

function expandMap(m: Record<string, string>, field: string, expand: Expand): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, expand(v, `${field}.${k}`)]));
}

function translateMount(m: Mount, i: number, expand: Expand): Record<string, unknown> {
  const field = `spec.container.mounts[${i}]`;
  const target = expand(m.target, `${field}.target`);
  const source = expand(m.source, `${field}.source`);
  if (!posix.isAbsolute(target)) reject(`${field}.target`, `must be an absolute path, got ${JSON.stringify(target)}`);
  const consistency = enumName(MountConsistency, m.consistency)?.toLowerCase();
  if (!consistency) reject(`${field}.consistency`, `unknown value ${String(m.consistency)}`);
  const base: Record<string, unknown> = { Target: target, ReadOnly: m.readonly, ...(consistency !== 'default' ? { Consistency: consistency } : {}) };
  const type = m.type as number;
  if (type !== MountType.BIND && m.bind_options) reject(`${field}.bind_options`, 'only valid for bind mounts');
  if (type !== MountType.VOLUME && m.volume_options) reject(`${field}.volume_options`, 'only valid for volume mounts');
  if (type !== MountType.TMPFS && m.tmpfs_options) reject(`${field}.tmpfs_options`, 'only valid for tmpfs mounts');
  switch (type) {
    case MountType.BIND: {
      if (!posix.isAbsolute(source)) reject(`${field}.source`, `bind source must be an absolute path, got ${JSON.stringify(source)}`);
      const bo = m.bind_options;
      if (bo?.createmountpoint) reject(`${field}.bind_options.createmountpoint`, 'needs Docker API 1.42; this node speaks 1.41');
      if (bo?.readonlynonrecursive) reject(`${field}.bind_options.readonlynonrecursive`, 'needs Docker API 1.44; this node speaks 1.41');
      if (bo?.readonlyforcerecursive) reject(`${field}.bind_options.readonlyforcerecursive`, 'needs Docker API 1.44; this node speaks 1.41');
      const propagation = enumName(MountPropagation, bo?.propagation ?? 0)?.toLowerCase();
      if (!propagation) reject(`${field}.bind_options.propagation`, `unknown value ${String(bo?.propagation)}`);
      return { ...base, Type: 'bind', Source: source, ...(bo ? { BindOptions: { Propagation: propagation, NonRecursive: bo.nonrecursive } } : {}) };
    }
    case MountType.VOLUME: {
      if (posix.isAbsolute(source)) reject(`${field}.source`, `volume name must not be an absolute path, got ${JSON.stringify(source)}`);
      const vo = m.volume_options;
      if (vo?.subpath) reject(`${field}.volume_options.subpath`, 'needs Docker API 1.45; this node speaks 1.41');
      const driver = vo?.driver_config;
      return {
        ...base,
        Type: 'volume',
        Source: source,
        ...(vo
          ? {
              VolumeOptions: {
                NoCopy: vo.nocopy,
                Labels: expandMap(vo.labels ?? {}, `${field}.volume_options.labels`, expand),
                ...(driver ? { DriverConfig: { Name: driver.name, Options: expandMap(driver.options ?? {}, `${field}.volume_options.driver_config.options`, expand) } } : {}),
              },
            }
          : {}),
      };
    }
    case MountType.TMPFS: {
      if (source !== '') reject(`${field}.source`, 'a tmpfs mount has no source');
      const to = m.tmpfs_options;
      if (to?.options) reject(`${field}.tmpfs_options.options`, 'needs Docker API 1.46; this node speaks 1.41');
      const sizeBytes = num(to?.size_bytes);
      if (sizeBytes < 0) reject(`${field}.tmpfs_options.size_bytes`, 'must not be negative');
      return { ...base, Type: 'tmpfs', ...(to ? { TmpfsOptions: { SizeBytes: sizeBytes, Mode: to.mode } } : {}) };
    }
    case MountType.NPIPE:
      return reject(`${field}.type`, 'named pipes exist on Windows nodes only');
    case MountType.CLUSTER:
      return reject(`${field}.type`, 'cluster (CSI) volumes are not supported on this node');
    default:
      return reject(`${field}.type`, `unknown mount type ${String(m.type)}`);
  }
}

function healthcheck(spec: ContainerSpec): Record<string, unknown> | undefined {
  const h = spec.healthcheck;
  if (!h) return undefined;
  if (durationNs(h.start_interval)) reject('spec.container.healthcheck.start_interval', 'needs Docker API 1.44; this node speaks 1.41');
  if (h.retries < 0) reject('spec.container.healthcheck.retries', 'must not be negative');
  return {
    Test: h.test,
    Interval: durationNs(h.interval) ?? 0,
    Timeout: durationNs(h.timeout) ?? 0,
    Retries: h.retries,
    StartPeriod: durationNs(h.start_period) ?? 0,
  };
}

function securityOpts(spec: ContainerSpec): string[] {
  const p = spec.privileges;
  if (!p) return [];
  const out: string[] = [];
  if (p.credential_spec) reject('spec.container.privileges.credential_spec', 'credential specs exist on Windows nodes only');
  const se = p.selinux_context;
  if (se) {
    if (se.disable) out.push('label=disable');
    if (se.user) out.push(`label=user:${se.user}`);
    if (se.role) out.push(`label=role:${se.role}`);
    if (se.level) out.push(`label=level:${se.level}`);
    if (se.type) out.push(`label=type:${se.type}`);
  }
  const sc = p.seccomp;
  if (sc) {
    switch (sc.mode as number) {
      case SeccompMode.DEFAULT:
        break;
      case SeccompMode.UNCONFINED:
        out.push('seccomp=unconfined');
        break;
      case SeccompMode.CUSTOM: {
        const profile = Buffer.from(sc.profile ?? []).toString('utf8');
        try {
          JSON.parse(profile);
        } catch {
          reject('spec.container.privileges.seccomp.profile', 'is not valid JSON');
        }
        out.push(`seccomp=${profile}`);
        break;
      }
      default:
        reject('spec.container.privileges.seccomp.mode', `unknown value ${String(sc.mode)}`);
    }
  }
  const aa = p.apparmor;
  if (aa) {
    if ((aa.mode as number) === AppArmorMode.DISABLED) out.push('apparmor=unconfined');
    else if ((aa.mode as number) !== AppArmorMode.DEFAULT) reject('spec.container.privileges.apparmor.mode', `unknown value ${String(aa.mode)}`);
  }
  if (p.no_new_privileges) out.push('no-new-privileges=true');
  return out;
}

/** "IP host [aliases...]" (hosts(5)) → Docker's "host:IP", one per name. */
function extraHosts(spec: ContainerSpec): string[] {
  return spec.hosts.flatMap((entry, i) => {
    const [ip, ...names] = entry.trim().split(/\s+/);
    if (!ip || names.length === 0) reject(`spec.container.hosts[${i}]`, `expected "IP name [aliases...]", got ${JSON.stringify(entry)}`);
    if (isIP(ip) === 0) reject(`spec.container.hosts[${i}]`, `${JSON.stringify(ip)} is not an IP address`);
    return names.map((n) => `${n}:${ip}`);
  });
}

function dnsConfig(spec: ContainerSpec): { nameservers: string[]; search: string[]; options: string[] } | undefined {
  const d = spec.dns_config;
  if (!d) return undefined;
  d.nameservers.forEach((n, i) => {
    if (isIP(n) === 0) reject(`spec.container.dns_config.nameservers[${i}]`, `${JSON.stringify(n)} is not an IP address`);
  });
  const token = (list: string[], what: string) =>
    list.forEach((s, i) => {
      if (s === '' || /[\s#;]/.test(s)) reject(`spec.container.dns_config.${what}[${i}]`, `${JSON.stringify(s)} is not a valid ${what === 'search' ? 'domain' : 'option'}`);
    });
  token(d.search, 'search');
  token(d.options, 'options');
  return { nameservers: d.nameservers, search: d.search, options: d.options };
}

/** `DOCKER_RESOURCE_<KIND>=v1,v2` for the generic resources the scheduler assigned, as Docker sets them. */
function genericResourceEnv(task: Task): string[] {
  const byKind = new Map<string, string[]>();
  for (const r of task.assigned_generic_resources ?? []) {
    const named = r.named_resource_spec;
    const discrete = r.discrete_resource_spec;
    const [kind, value] = named ? [named.kind, named.value] : discrete ? [discrete.kind, String(discrete.value)] : [undefined, undefined];
    if (kind === undefined || value === undefined) continue;
    const key = `DOCKER_RESOURCE_${kind.toUpperCase()}`;
    byKind.set(key, [...(byKind.get(key) ?? []), value]);
  }
  return [...byKind.entries()].sort(([a], [b]) => byCodeUnit(a, b)).map(([k, v]) => `${k}=${v.join(',')}`);
}

function resources(task: Task): Record<string, unknown> {
  const r = task.spec?.resources;
  const out: Record<string, unknown> = {};
  const limits = r?.limits;
  if (limits?.generic && limits.generic.length > 0) reject('spec.resources.limits.generic', 'generic resources are reservations, not limits');
  const memory = num(limits?.memory_bytes);
  if (memory < 0) reject('spec.resources.limits.memory_bytes', 'must not be negative');
  if (memory > 0) {
    out.Memory = memory;
    const swap = r?.swap_bytes ? num(r.swap_bytes.value) : undefined;
    if (swap !== undefined) {
      if (swap < -1) reject('spec.resources.swap_bytes', 'must be -1 (unlimited) or more');
      out.MemorySwap = swap === -1 ? -1 : memory + swap;
    }
  }
  if (r?.memory_swappiness) {
    const s = num(r.memory_swappiness.value);
    if (s < 0 || s > 100) reject('spec.resources.memory_swappiness', 'must be 0..100');
    out.MemorySwappiness = s;
  }
  const cpus = num(limits?.nano_cpus);
  if (cpus < 0) reject('spec.resources.limits.nano_cpus', 'must not be negative');
  if (cpus > 0) out.NanoCpus = cpus;
  // Reservations are the scheduler's business: Docker's worker applies none of them to the container.
  return out;
}

/** The task's addresses on its networks (ingress left out), as Docker's worker lists them in
 *  /etc/hosts. */
function taskAddresses(task: Task): string[] {
  return (task.networks ?? []).filter((a) => a.network?.spec?.ingress !== true).flatMap((a) => (a.addresses ?? []).map((cidr) => cidr.split('/')[0]!));
}

function predefinedNetwork(task: Task): string | undefined {
  const first = task.networks?.[0]?.network;
  const name = first?.spec?.annotations?.name;
  if (name && first?.spec?.annotations?.labels?.[PREDEFINED_NETWORK_LABEL] === 'true' && PREDEFINED_NETWORKS.has(name)) return name;
  return undefined;
}

/**
 * Host-mode ports (`mode=host`) as the engine's port bindings, Docker's way, for a task whose
 * netns is on an engine network; a task berth plumbs itself (network mode none) gets them from
 * netd's host rules instead, and none here. A published port of 0 is a dynamic host port.
 */
function hostPortBindings(task: Task, engineNetwork: boolean): { PortBindings: Record<string, Array<{ HostPort: string }>>; ExposedPorts: Record<string, object> } | undefined {
  const bindings: Record<string, Array<{ HostPort: string }>> = {};
  (task.endpoint?.ports ?? []).forEach((p, i) => {
    if ((p.publish_mode as number) !== PublishMode.HOST) return;
    const proto = enumName(PortProtocol, p.protocol)?.toLowerCase();
    if (!proto) reject(`endpoint.ports[${i}].protocol`, `unknown protocol ${String(p.protocol)}`);
    if (!engineNetwork) return;
    const key = `${p.target_port}/${proto}`;
    (bindings[key] ??= []).push({ HostPort: p.published_port ? String(p.published_port) : '' });
  });
  const keys = Object.keys(bindings);
  return keys.length === 0 ? undefined : { PortBindings: bindings, ExposedPorts: Object.fromEntries(keys.map((k) => [k, {}])) };
}

export function translateTask(task: Task, opts: TranslateOptions): TaskPlan {
  const spec = task.spec?.container;
  if (!spec) throw new TaskError('E_SPEC_UNSUPPORTED', `task ${task.id}: only container tasks run on this node`);
  if (!spec.image.trim()) reject('spec.container.image', 'empty');
  if ((spec.isolation as number) !== Isolation.ISOLATION_DEFAULT) reject('spec.container.isolation', 'only the default isolation exists on Linux');
  if ((task.volumes ?? []).length > 0) reject('volumes', 'cluster (CSI) volumes are not supported on this node');
  const expand = expander(templateContext(task, opts.node));

  const files = taskFiles(spec);
  const userMounts = spec.mounts.map((m, i) => translateMount(m, i, expand));
  const fileMounts = files.map((f) => ({ Type: 'bind', Source: posix.join(opts.taskDir, f.hostPath), Target: f.target, ReadOnly: true }));
  const taken = new Map<string, string>();
  for (const [i, m] of userMounts.entries()) {
    const t = posix.normalize(m.Target as string).replace(/(.)\/$/, '$1');
    const clash = files.find((f) => f.target === t);
    if (clash) reject(`spec.container.mounts[${i}].target`, `${t} is also the target of ${clash.kind} ${JSON.stringify(clash.name || clash.id)}`);
    if (taken.has(t)) reject(`spec.container.mounts[${i}].target`, `${t} is also the target of ${taken.get(t)}`);
    taken.set(t, `mounts[${i}]`);
  }

  const predefined = predefinedNetwork(task);
  const dns = dnsConfig(spec);
  // berth's resolv.conf points at the embedded DNS; a task on the host's or the default bridge
  // network keeps Docker's, and a user's own file at that path wins.
  const ownResolv = opts.embeddedDns !== false && predefined === undefined && !taken.has(RESOLV_CONF_TARGET) && !files.some((f) => f.target === RESOLV_CONF_TARGET);
  const resolvConf = ownResolv ? renderResolvConf(dns) : undefined;
  const resolvMount = ownResolv ? [{ Type: 'bind', Source: posix.join(opts.taskDir, RESOLV_CONF_FILE), Target: RESOLV_CONF_TARGET, ReadOnly: true }] : [];

  const graceNs = durationNs(spec.stop_grace_period);
  if (graceNs !== undefined && graceNs < 0) reject('spec.container.stop_grace_period', 'must not be negative');
  const stopGraceMs = graceNs === undefined ? DEFAULT_STOP_GRACE_MS : Math.ceil(graceNs / 1e6);
  const hostname = expand(spec.hostname, 'spec.container.hostname');
  const hosts = extraHosts(spec);
  const useSandbox = opts.sandboxImage !== undefined && predefined === undefined;
  // A sandbox berth plumbs (network mode none, berth's DNS) needs nothing of the engine's
  // networking: made without it (NetworkDisabled), its start makes no libnetwork sandbox, which
  // is most of a container start's cost. Its /etc/hosts is then berth's to write.
  const engineless = useSandbox && (opts.networkMode ?? 'none') === 'none' && opts.embeddedDns !== false;
  const ownHosts = engineless && !taken.has(HOSTS_TARGET) && !files.some((f) => f.target === HOSTS_TARGET);
  const hostsMount = ownHosts ? [{ Type: 'bind', Source: posix.join(opts.taskDir, HOSTS_FILE), Target: HOSTS_TARGET, ReadOnly: true }] : [];
  const name = taskName(task);
  const engineNetwork = (predefined ?? opts.networkMode ?? 'none') !== 'none';
  const ports = hostPortBindings(task, engineNetwork);
  const sandbox: ContainerCreate | undefined = useSandbox
    ? {
        name: sandboxName(task),
        body: {
          Image: opts.sandboxImage,
          Hostname: hostname,
          ...(engineless ? { NetworkDisabled: true } : {}),
          Labels: sandboxLabels(task),
          ...(ports ? { ExposedPorts: ports.ExposedPorts } : {}),
          HostConfig: {
            NetworkMode: opts.networkMode ?? 'none',
            ...(engineless ? { Sysctls: IPV6_OFF, ...PAUSE_CONFINEMENT } : {}),
            ...(ports ? { PortBindings: ports.PortBindings } : {}),
            ...(engineless ? {} : { ExtraHosts: hosts }),
            ...(!ownResolv && dns ? { Dns: dns.nameservers, DnsSearch: dns.search, DnsOptions: dns.options } : {}),
            RestartPolicy: { Name: 'no' },
            LogConfig: { Type: 'none', Config: {} },
          },
        },
      }
    : undefined;

  const security = securityOpts(spec);
  const pids = num(spec.pidsLimit);
  const oomScoreAdj = num(spec.oom_score_adj);
  if (oomScoreAdj < -1000 || oomScoreAdj > 1000) reject('spec.container.oom_score_adj', 'must be -1000..1000');
  const hc = healthcheck(spec);
  const hostConfig: Record<string, unknown> = {
    // Joining the sandbox's netns also takes its hostname, /etc/hosts and DNS settings.
    NetworkMode: sandbox ? `container:${sandbox.name}` : (predefined ?? opts.networkMode ?? 'none'),
    Mounts: [...userMounts, ...fileMounts, ...resolvMount, ...hostsMount],
    ReadonlyRootfs: spec.read_only,
    Init: spec.init ? spec.init.value : null,
    CapAdd: spec.capability_add,
    CapDrop: spec.capability_drop,
    Sysctls: spec.sysctls,
    Ulimits: spec.ulimits.map((u, i) => {
      if (!u.name) reject(`spec.container.ulimits[${i}].name`, 'empty');
      return { Name: u.name, Soft: num(u.soft), Hard: num(u.hard) };
    }),
    GroupAdd: spec.groups,
    ...(sandbox ? {} : { ExtraHosts: hosts }),
    ...(!sandbox && ports ? { PortBindings: ports.PortBindings } : {}),
    ...(!sandbox && !ownResolv && dns ? { Dns: dns.nameservers, DnsSearch: dns.search, DnsOptions: dns.options } : {}),
    ...(security.length > 0 ? { SecurityOpt: security } : {}),
    ...(pids !== 0 ? { PidsLimit: pids } : {}),
    ...(oomScoreAdj !== 0 ? { OomScoreAdj: oomScoreAdj } : {}),
    ...resources(task),
    ...(task.log_driver?.name ? { LogConfig: { Type: task.log_driver.name, Config: task.log_driver.options ?? {} } } : {}),
    RestartPolicy: { Name: 'no' },
  };
  const env = spec.env.map((e, i) => {
    const eq = e.indexOf('=');
    return eq < 0 ? e : `${e.slice(0, eq + 1)}${expand(e.slice(eq + 1), `spec.container.env[${i}]`)}`;
  });
  const body: Record<string, unknown> = {
    Image: spec.image,
    ...(spec.command.length > 0 ? { Entrypoint: spec.command, Cmd: spec.args } : spec.args.length > 0 ? { Cmd: spec.args } : {}),
    Env: [...env, ...genericResourceEnv(task)],
    WorkingDir: spec.dir,
    User: spec.user,
    ...(sandbox ? {} : { Hostname: hostname }),
    ...(!sandbox && ports ? { ExposedPorts: ports.ExposedPorts } : {}),
    Tty: spec.tty,
    OpenStdin: spec.open_stdin,
    Labels: taskLabels(task),
    ...(spec.stop_signal ? { StopSignal: spec.stop_signal } : {}),
    ...(graceNs !== undefined ? { StopTimeout: Math.ceil(stopGraceMs / 1000) } : {}),
    ...(hc ? { Healthcheck: hc } : {}),
    HostConfig: hostConfig,
  };
  return {
    taskId: task.id,
    image: spec.image,
    registryAuth: spec.pull_options?.registry_auth || undefined,
    container: { name, body },
    sandbox,
    files,
    resolvConf,
    hosts: ownHosts ? { extraHosts: hosts, addresses: taskAddresses(task) } : undefined,
    dnsUpstreams: ownResolv ? (dns?.nameservers ?? []) : [],
    stopSignal: spec.stop_signal || undefined,
    stopGraceMs,
  };
}

/**
 * The task container's create body joined to a warm sandbox (`container:<sandbox>`), or
 * undefined when the task needs something of its network namespace that only its own create
 * sets: a sandbox of berth's (an overlay), a network other than the engine's bridge, published
 * ports, a hostname, extra hosts or DNS settings. Such a task is made as before. The joined
 * container shares the sandbox's hostname, /etc/hosts and resolv.conf (the engine's defaults
 * for the bridge, as the task would have had, with the sandbox's id as hostname).
 */
export function joinPooledSandbox(plan: TaskPlan, sandbox: string): ContainerCreate | undefined {
  if (plan.sandbox) return undefined;
  const { Hostname, ExposedPorts, HostConfig, ...rest } = plan.container.body as { Hostname?: string; ExposedPorts?: unknown; HostConfig: Record<string, unknown> };
  const { ExtraHosts, Dns, DnsSearch, DnsOptions, PortBindings, ...hostConfig } = HostConfig;
  const empty = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v).length === 0);
  if (hostConfig.NetworkMode !== 'bridge' || (Hostname ?? '') !== '' || !empty(ExposedPorts) || !empty(PortBindings) || ![ExtraHosts, Dns, DnsSearch, DnsOptions].every(empty)) return undefined;
  return { name: plan.container.name, body: { ...rest, HostConfig: { ...hostConfig, NetworkMode: `container:${sandbox}` } } };
}

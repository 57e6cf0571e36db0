// Task spec → Docker Engine container config, as a pure, validated function. After this
// returns, nothing about the spec can fail validation; unsupported fields are errors that
// name the field (the task is REJECTED), never silently dropped.
import type { ContainerSpec, Task } from '../../proto/api.js';
import { TaskError } from '../executor.js';
import { taskLabels, taskName } from './naming.js';

const MOUNT_BIND = 0;
const MOUNT_VOLUME = 1;
const MOUNT_TMPFS = 2;
const PROPAGATION = ['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'] as const;
/** Docker's default stop grace when the spec gives none. */
export const DEFAULT_STOP_GRACE_S = 10;

export interface DockerContainerConfig {
  name: string;
  body: Record<string, unknown>;
  image: string;
  stopGraceSeconds: number;
}

function reject(field: string, why: string): never {
  throw new TaskError('E_SPEC_UNSUPPORTED', `spec.container.${field}: ${why}`);
}

function durationNs(d: { seconds: string; nanos: number } | null | undefined): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds) * 1e9 + d.nanos;
}

function mounts(spec: ContainerSpec): Array<Record<string, unknown>> {
  return spec.mounts.map((m, i) => {
    const where = `mounts[${i}]`;
    if (!m.target.startsWith('/')) reject(`${where}.target`, `must be an absolute path, got ${JSON.stringify(m.target)}`);
    const base = { Target: m.target, ReadOnly: m.readonly };
    switch (m.type as number) {
      case MOUNT_BIND: {
        if (!m.source.startsWith('/')) reject(`${where}.source`, `bind source must be an absolute path, got ${JSON.stringify(m.source)}`);
        const prop = PROPAGATION[(m.bind_options?.propagation as number | undefined) ?? 0] ?? 'rprivate';
        return { ...base, Type: 'bind', Source: m.source, BindOptions: { Propagation: prop, NonRecursive: m.bind_options?.nonrecursive ?? false } };
      }
      case MOUNT_VOLUME: {
        const vo = m.volume_options;
        const driver = vo?.driver_config;
        return {
          ...base,
          Type: 'volume',
          Source: m.source,
          VolumeOptions: {
            NoCopy: vo?.nocopy ?? false,
            Labels: vo?.labels ?? {},
            ...(driver?.name ? { DriverConfig: { Name: driver.name, Options: driver.options } } : {}),
          },
        };
      }
      case MOUNT_TMPFS: {
        const to = m.tmpfs_options;
        return { ...base, Type: 'tmpfs', TmpfsOptions: { SizeBytes: Number(to?.size_bytes ?? 0), Mode: to?.mode ?? 0 } };
      }
      default:
        return reject(`${where}.type`, `mount type ${String(m.type)} is not supported on Linux nodes`);
    }
  });
}

function healthcheck(spec: ContainerSpec): Record<string, unknown> | undefined {
  const h = spec.healthcheck;
  if (!h) return undefined;
  return {
    Test: h.test,
    Interval: durationNs(h.interval) ?? 0,
    Timeout: durationNs(h.timeout) ?? 0,
    Retries: h.retries,
    StartPeriod: durationNs(h.start_period) ?? 0,
  };
}

export function containerConfig(task: Task, extra: { networkMode?: string; binds?: string[] } = {}): DockerContainerConfig {
  const spec = task.spec?.container;
  if (!spec) throw new TaskError('E_SPEC_UNSUPPORTED', `task ${task.id} has no container spec`);
  if (!spec.image) reject('image', 'empty');
  if ((spec.isolation as number) !== 0) reject('isolation', 'only the default isolation exists on Linux');
  if (spec.privileges?.credential_spec) reject('privileges.credential_spec', 'Windows-only');
  if (spec.open_stdin) reject('open_stdin', 'tasks have no attached stdin');
  const limits = task.spec?.resources?.limits;
  const reservations = task.spec?.resources?.reservations;
  const graceNs = durationNs(spec.stop_grace_period);
  const stopGraceSeconds = graceNs === undefined ? DEFAULT_STOP_GRACE_S : Math.ceil(graceNs / 1e9);
  const dns = spec.dns_config;
  const hostConfig: Record<string, unknown> = {
    NetworkMode: extra.networkMode ?? 'none',
    Mounts: mounts(spec),
    Binds: extra.binds ?? [],
    ReadonlyRootfs: spec.read_only,
    Init: spec.init ? spec.init.value : null,
    CapAdd: spec.capability_add,
    CapDrop: spec.capability_drop,
    Sysctls: spec.sysctls,
    Ulimits: spec.ulimits.map((u) => ({ Name: u.name, Soft: Number(u.soft), Hard: Number(u.hard) })),
    GroupAdd: spec.groups,
    ExtraHosts: spec.hosts.map((h) => {
      const [ip, ...names] = h.trim().split(/\s+/);
      return names.map((n) => `${n}:${ip}`).join(',');
    }).flatMap((s) => s.split(',')).filter((s) => s.includes(':')),
    NanoCpus: Number(limits?.nano_cpus ?? 0),
    Memory: Number(limits?.memory_bytes ?? 0),
    MemoryReservation: Number(reservations?.memory_bytes ?? 0),
    PidsLimit: Number(spec.pidsLimit ?? 0) || null,
    OomScoreAdj: Number(spec.oom_score_adj ?? 0),
    ...(dns ? { Dns: dns.nameservers, DnsSearch: dns.search, DnsOptions: dns.options } : {}),
    ...(task.log_driver?.name ? { LogConfig: { Type: task.log_driver.name, Config: task.log_driver.options } } : {}),
    RestartPolicy: { Name: 'no' },
  };
  const hc = healthcheck(spec);
  const body: Record<string, unknown> = {
    Image: spec.image,
    ...(spec.command.length > 0 ? { Entrypoint: spec.command } : {}),
    ...(spec.args.length > 0 ? { Cmd: spec.args } : {}),
    Env: spec.env,
    WorkingDir: spec.dir,
    User: spec.user,
    Hostname: spec.hostname,
    Tty: spec.tty,
    Labels: taskLabels(task),
    StopSignal: spec.stop_signal || undefined,
    StopTimeout: stopGraceSeconds,
    ...(hc ? { Healthcheck: hc } : {}),
    HostConfig: hostConfig,
  };
  return { name: taskName(task), body, image: spec.image, stopGraceSeconds };
}

// Tasks, secrets and configs shaped as the wire decodes them (proto-loader with defaults), for
// executor tests.
import type { Config, ContainerSpec, Secret, Task } from '../../agent/proto/api.js';

export type SpecPatch = Partial<ContainerSpec>;

export function containerSpec(patch: SpecPatch = {}): ContainerSpec {
  return {
    image: 'local/busybox:test',
    labels: {},
    command: [],
    args: [],
    env: [],
    dir: '',
    user: '',
    mounts: [],
    stop_grace_period: null,
    pull_options: null,
    groups: [],
    secrets: [],
    tty: false,
    hostname: '',
    dns_config: null,
    healthcheck: null,
    hosts: [],
    open_stdin: false,
    read_only: false,
    stop_signal: '',
    configs: [],
    privileges: null,
    init: null,
    isolation: 0,
    pidsLimit: '0',
    sysctls: {},
    capability_add: [],
    capability_drop: [],
    ulimits: [],
    oom_score_adj: '0',
    ...patch,
  } as ContainerSpec;
}

let counter = 0;

/** A task id like the manager's: 25 lowercase alphanumerics. */
export function taskId(): string {
  counter++;
  return `t${process.pid.toString(36)}${counter.toString(36)}${Math.random().toString(36).slice(2)}`.replace(/[^a-z0-9]/g, '').padEnd(25, '0').slice(0, 25);
}

export function makeTask(spec: SpecPatch = {}, patch: Partial<Task> & { resources?: unknown; log_driver?: Task['log_driver'] } = {}): Task {
  const id = patch.id ?? taskId();
  const { resources, ...rest } = patch;
  return {
    id,
    meta: null,
    spec: {
      container: containerSpec(spec),
      resources: (resources as never) ?? null,
      restart: null,
      placement: null,
      log_driver: null,
      networks: [],
      force_update: '0',
      resource_references: [],
      runtime: 'container',
    },
    spec_version: null,
    service_id: 'svc0000000000000000000001',
    slot: '1',
    node_id: 'node000000000000000000001',
    annotations: { name: '', labels: {}, indices: [] },
    service_annotations: { name: 'web', labels: {}, indices: [] },
    status: null,
    desired_state: 512,
    networks: [],
    endpoint: null,
    log_driver: null,
    assigned_generic_resources: [],
    job_iteration: null,
    volumes: [],
    ...rest,
  } as unknown as Task;
}

export function secretRef(id: string, name: string, target: string, file: { uid?: string; gid?: string; mode?: number } = {}) {
  return { secret_id: id, secret_name: name, file: { name: target, uid: file.uid ?? '0', gid: file.gid ?? '0', mode: file.mode ?? 0o444 }, target: 'file' as const };
}

export function configRef(id: string, name: string, target: string, file: { uid?: string; gid?: string; mode?: number } = {}) {
  return { config_id: id, config_name: name, file: { name: target, uid: file.uid ?? '0', gid: file.gid ?? '0', mode: file.mode ?? 0o444 }, runtime: null, target: 'file' as const };
}

export function secret(id: string, name: string, data: string | Buffer, templating?: string): Secret {
  return { id, meta: null, spec: { annotations: { name, labels: {}, indices: [] }, data: Buffer.from(data), templating: templating ? { name: templating, options: {} } : null, driver: null }, internal: false } as Secret;
}

export function config(id: string, name: string, data: string | Buffer, templating?: string): Config {
  return { id, meta: null, spec: { annotations: { name, labels: {}, indices: [] }, data: Buffer.from(data), templating: templating ? { name: templating, options: {} } : null } } as Config;
}

export function duration(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

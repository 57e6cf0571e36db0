// One task on the local Docker Engine: its host directory (resolv.conf; a tmpfs holding its
// secrets and configs when it has any), its sandbox (a pause container owning the netns, when
// enabled) and its container. Every method is
// idempotent and finds what exists by name or label first, so a restarted agent adopts what
// it created before instead of making a duplicate.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Config, Secret, Task } from '../../proto/api.js';
import { BerthError } from '../../../base/index.js';
import type { SandboxNetworking, TaskNetworks } from '../../../netd/index.js';
import { TaskError, type ContainerStatusReport, type Controller, type DependencyGetter, type ExitStatus } from '../executor.js';
import { renderHostsFile, type HostsFileInput } from './hosts-file.js';
import { HOSTS_FILE, joinPooledSandbox, RESOLV_CONF_FILE, templateContext, translateTask, type ContainerCreate, type NodeInfo, type TaskPlan } from './container-config.js';
import type { SandboxPool } from './sandbox-pool.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerEvents, engineError, engineMessage, isAbort, isStatus, waitForExit, whenAborted, type ImageInspects } from './engine.js';
import { LABEL_BERTH_TASK_ID, sandboxName, taskName } from './naming.js';
import { maxBytes, type TaskFile } from './task-files.js';
import { tmpfsSizeFor, type TaskDirFile, type TaskDirs } from './task-dir.js';
import { TemplateError, expandTemplate } from './templates.js';

/** How long to wait for a container to die after SIGKILL. */
const KILL_WAIT_MS = 5_000;
/** The sandbox runs only the pause program, which exits at once on SIGTERM. */
const SANDBOX_STOP_S = 2;
const DEPENDENCY_POLL_MS = 100;
/** A hostname's longest (a DNS name's), for the room the hosts file is given. */
const HOSTNAME_MAX = 255;
const TEMPLATE_DRIVER = 'golang';
const HEALTH_EVENTS = ['health_status', 'die', 'destroy'];
const HEALTHY = 'health_status: healthy';
const UNHEALTHY = 'health_status: unhealthy';
const UNHEALTHY_MESSAGE = 'container unhealthy';
/** While a start waits for health and no event comes, the container is looked at this often. */
const HEALTH_RECHECK_MS = 2_000;
const RECHECK = Symbol('recheck');

export interface ControllerEnv {
  docker: Docker;
  /** Image inspects shared by the node's tasks while one is in flight. */
  images: ImageInspects;
  dependencies: DependencyGetter;
  taskDirs: TaskDirs;
  /** The pause image when this task gets a sandbox container, else undefined. */
  sandboxImage: string | undefined;
  node: NodeInfo;
  /** How long prepare waits for a referenced secret/config to arrive (after an agent restart
   *  tasks resume before the manager has sent them again). */
  dependencyWaitMs: number;
  /** The task's networks and the node networking that plumbs its sandbox into the overlays and
   *  the DNS; undefined when the data plane is off or the task has no network berth plumbs. */
  networking: { sandboxes: SandboxNetworking; networks: TaskNetworks } | undefined;
  /** The engine network for a task berth does not plumb (bridge unless the engine has none). */
  defaultNetworkMode: 'bridge' | 'none';
  /** Warm sandboxes this task may take when it needs nothing of its own netns (sandbox-pool.ts). */
  sandboxPool?: Pick<SandboxPool, 'take'>;
  /** Set when the task is on an overlay this node cannot plumb (no data plane): every step
   *  that would run it fails with this error, and a container already running is stopped. */
  unplumbable?: TaskError;
}

/** How long an inspect stays good enough for wait() to start from. */
const RECENT_INSPECT_MS = 2_000;

type WithHealthcheck = { Healthcheck?: { Test?: string[] } } | undefined;

/** Whether a config (an image's, a container's, a create body) runs a healthcheck: a test other than NONE. */
function runsHealthcheck(config: unknown): boolean {
  const test = (config as WithHealthcheck)?.Healthcheck?.Test;
  return Array.isArray(test) && test.length > 0 && test[0] !== 'NONE';
}

/** Whether a create body sets a healthcheck of its own (NONE included), overriding the image's. */
function setsHealthcheck(config: unknown): boolean {
  return ((config as WithHealthcheck)?.Healthcheck?.Test?.length ?? 0) > 0;
}

const hasHealthcheck = (info: Docker.ContainerInspectInfo): boolean => runsHealthcheck(info.Config);

function healthStatus(info: Docker.ContainerInspectInfo): string | undefined {
  return (info.State as { Health?: { Status?: string } }).Health?.Status;
}

function exitError(code: number, oom: boolean): TaskError {
  return new TaskError('E_EXIT', `task: non-zero exit (${code})${oom ? ': OOMKilled' : ''}`, { exitCode: code });
}

export class DockerController implements Controller {
  private cachedPlan: TaskPlan | undefined;
  /** Set by prepare() when it created the task container, so start() need not inspect it. */
  private fresh: { healthcheck: boolean } | undefined;
  /** The last inspect of the task container, reused by the wait() that follows a start. */
  private recent: { info: Docker.ContainerInspectInfo; at: number } | undefined;
  /** The sandbox's netns as last plumbed: start and wait only check it is still attached. */
  private sandboxNetns: string | undefined;
  /** The sandbox's address on the gateway bridge when it has no networks (its /etc/hosts line). */
  private gatewayAddress: string | undefined;

  constructor(
    private readonly env: ControllerEnv,
    private readonly task: Task,
  ) {}

  /** The validated translation of the task; throws (non-temporary) for an unsupported spec. */
  plan(): TaskPlan {
    this.cachedPlan ??= translateTask(this.task, {
      taskDir: this.env.taskDirs.path(this.task.id),
      sandboxImage: this.env.sandboxImage,
      networkMode: this.env.networking ? 'none' : this.env.defaultNetworkMode,
      embeddedDns: this.env.networking !== undefined,
      node: this.env.node,
    });
    return this.cachedPlan;
  }

  private get docker(): Docker {
    return this.env.docker;
  }

  private async inspect(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw engineError(err, `inspecting ${name}`);
    }
  }

  async prepare(signal: AbortSignal): Promise<void> {
    if (this.env.unplumbable) throw this.env.unplumbable;
    const plan = this.plan();
    try {
      const files = await this.resolveFiles(plan, signal);
      const imageHealthcheck = await this.ensureImage(plan.image, plan.registryAuth, signal);
      if (plan.sandbox) await this.ensureLocalImage(plan.sandbox.body.Image as string, 'sandbox image');
      await this.materialize(plan, files);
      const body = plan.container.body;
      const healthcheck = setsHealthcheck(body) ? runsHealthcheck(body) : imageHealthcheck;
      if (plan.sandbox) {
        await this.ensureCreated(plan.sandbox);
        await this.ensureRunning(plan.sandbox.name);
        const { sandbox } = await this.dropStaleSandboxLink(plan.container, plan.sandbox);
        // The task container's create needs the sandbox running and its bind sources there, not
        // the plumbing: the two go at once. A task without networks learns its address from the
        // plumbing, so its /etc/hosts is written again then (in place: the mount sees it).
        if (plan.hosts) await this.writeHostsFile(plan.hosts, sandbox);
        const [plumbed, created] = await Promise.allSettled([
          // Names resolve from here on; a container with a healthcheck joins its service's
          // answers only when healthy.
          this.plumb(plan, !healthcheck, 'attach', sandbox).then(async () => {
            if (plan.hosts && plan.hosts.addresses.length === 0 && this.gatewayAddress) await this.writeHostsFile(plan.hosts, sandbox);
          }),
          this.ensureCreated(plan.container),
        ]);
        if (plumbed.status === 'rejected') throw plumbed.reason;
        if (created.status === 'rejected') throw created.reason;
        this.fresh = created.value ? { healthcheck } : undefined;
      } else {
        this.fresh = (await this.ensureCreated(await this.withWarmSandbox(plan))) ? { healthcheck } : undefined;
      }
    } catch (err) {
      const e = engineError(err, `preparing ${plan.container.name}`);
      // A rejected task never runs: take its secrets and sandbox away now, not at removal.
      if (!e.temporary && !signal.aborted) await this.remove().catch(() => undefined);
      throw e;
    }
  }

  /** Looks every referenced secret and config up (waiting a while for late ones), checks sizes,
   *  expands payload templates. Messages name the secret or config, never its value. */
  private async resolveFiles(plan: TaskPlan, signal: AbortSignal): Promise<TaskDirFile[]> {
    const deadline = Date.now() + this.env.dependencyWaitMs;
    const lookup = (f: TaskFile): Secret | Config | undefined => (f.kind === 'secret' ? this.env.dependencies.secret(f.id) : this.env.dependencies.config(f.id));
    for (;;) {
      const missing = plan.files.filter((f) => !lookup(f));
      if (missing.length === 0) break;
      if (Date.now() >= deadline) {
        const m = missing[0]!;
        throw new TaskError('E_DEPENDENCY_MISSING', `${m.kind} ${JSON.stringify(m.name || m.id)} (${m.id}) is not in this node's assignments`);
      }
      await sleep(DEPENDENCY_POLL_MS, undefined, { signal });
    }
    const out: TaskDirFile[] = [];
    for (const f of plan.files) {
      const obj = lookup(f)!;
      let data = Buffer.from(obj.spec?.data ?? []);
      const what = `${f.kind} ${JSON.stringify(f.name || f.id)} (${f.id})`;
      if (data.length > maxBytes(f.kind)) throw new TaskError('E_DEPENDENCY_TOO_LARGE', `${what} is ${data.length} bytes; the limit is ${maxBytes(f.kind)}`);
      const templating = obj.spec?.templating;
      if (templating?.name) {
        if (templating.name !== TEMPLATE_DRIVER) throw new TaskError('E_SPEC_UNSUPPORTED', `${what}: template driver ${JSON.stringify(templating.name)} is not supported (only "${TEMPLATE_DRIVER}")`);
        data = Buffer.from(this.expandPayload(data.toString('utf8'), what), 'utf8');
      }
      out.push({ path: f.hostPath, data, uid: f.uid, gid: f.gid, mode: f.mode });
    }
    return out;
  }

  /** SwarmKit's payload templates: the task context plus secret, config and env lookups by
   *  target. The payload may hold or pull in secret values: an error names `what` and a
   *  position, and quotes nothing of the payload (a target named in it included). */
  private expandPayload(text: string, what: string): string {
    const spec = this.task.spec!.container!;
    const byTarget = (kind: 'secret' | 'config', target: string): string => {
      const ref = kind === 'secret' ? spec.secrets.find((s) => s.file?.name === target) : spec.configs.find((c) => c.file?.name === target);
      if (!ref) throw new TemplateError(`no ${kind} of this task has that target`);
      const id = 'secret_id' in ref ? ref.secret_id : ref.config_id;
      const obj = kind === 'secret' ? this.env.dependencies.secret(id) : this.env.dependencies.config(id);
      if (!obj) throw new TemplateError(`the ${kind} with that target is not in this node's assignments`);
      return Buffer.from(obj.spec?.data ?? []).toString('utf8');
    };
    try {
      return expandTemplate(text, templateContext(this.task, this.env.node), {
        secret: (t) => byTarget('secret', t),
        config: (t) => byTarget('config', t),
        env: (name) => {
          const e = spec.env.find((v) => v.startsWith(`${name}=`));
          return e === undefined ? '' : e.slice(name.length + 1);
        },
      });
    } catch (err) {
      if (err instanceof TemplateError) throw new TaskError('E_SPEC_UNSUPPORTED', `${what}: template: ${err.message}`);
      // Not expected; its message may carry payload text, so neither it nor the cause is kept.
      throw new TaskError('E_SPEC_UNSUPPORTED', `${what}: template: expansion failed (${(err as Error).name})`);
    }
  }

  private async materialize(plan: TaskPlan, files: TaskDirFile[]): Promise<void> {
    const resolv = plan.resolvConf === undefined ? [] : [{ path: RESOLV_CONF_FILE, data: plan.resolvConf, uid: 0, gid: 0, mode: 0o644 }];
    const all = [...files, ...resolv];
    // Nothing to bind-mount (no secrets, configs, resolv.conf or hosts of ours): no directory either.
    if (all.length === 0 && !plan.hosts) return;
    // The hosts file is written once the sandbox exists; a tmpfs keeps room for it, at the longest hostname.
    const hostsBytes = (hosts: HostsFileInput | undefined) => (hosts ? [Buffer.byteLength(renderHostsFile(hosts, 'x'.repeat(HOSTNAME_MAX)))] : []);
    try {
      const tmpfs = files.length > 0 ? tmpfsSizeFor([...all.map((f) => Buffer.byteLength(f.data)), ...hostsBytes(plan.hosts)]) : undefined;
      await this.env.taskDirs.ensure(this.task.id, tmpfs, this.task.node_id);
      await this.env.taskDirs.write(this.task.id, all);
    } catch (err) {
      throw new TaskError('E_TASK_DIR', `preparing the task's secrets directory: ${(err as Error).message}`, { temporary: true, cause: err });
    }
  }

  private async materialized(plan: TaskPlan): Promise<boolean> {
    if (plan.files.length > 0) return this.env.taskDirs.isMounted(this.task.id).catch(() => false);
    const dir = this.env.taskDirs.path(this.task.id);
    // The hosts file is written after this check (once the sandbox is up), so only its directory is looked for.
    if (plan.hosts && !existsSync(dir)) return false;
    return plan.resolvConf === undefined || existsSync(join(dir, RESOLV_CONF_FILE));
  }

  private async ensureLocalImage(image: string, what: string): Promise<void> {
    try {
      await this.env.images.inspect(image);
    } catch (err) {
      if (isStatus(err, 404)) throw new TaskError('E_IMAGE', `${what} ${image} is not present on this node's engine`);
      throw engineError(err, `inspecting ${what} ${image}`);
    }
  }

  /** Makes sure the image is local (pulling it if not); returns whether it defines a healthcheck. */
  private async ensureImage(image: string, registryAuth: string | undefined, signal: AbortSignal): Promise<boolean> {
    try {
      return runsHealthcheck((await this.env.images.inspect(image)).Config);
    } catch (err) {
      if (!isStatus(err, 404)) throw engineError(err, `inspecting image ${image}`);
    }
    try {
      const stream = await this.docker.pull(image, { abortSignal: signal, ...(registryAuth ? { authconfig: { base64: registryAuth } } : {}) });
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve())));
    } catch (err) {
      if (signal.aborted) throw err;
      throw new TaskError('E_IMAGE', `No such image: ${image} (not on this node and pulling failed: ${engineMessage(err)})`, { cause: err });
    }
    // Not shared: an inspect in flight may have begun before this pull finished.
    return runsHealthcheck((await this.docker.getImage(image).inspect().catch((err: unknown) => Promise.reject(engineError(err, `inspecting image ${image}`)))).Config);
  }

  /** The task container's create, joined to a warm sandbox when the pool has one and the task
   *  can use it; else the plan's own (the engine makes the task a namespace). */
  private async withWarmSandbox(plan: TaskPlan): Promise<ContainerCreate> {
    const pool = this.env.sandboxPool;
    const name = sandboxName(this.task);
    const joined = pool ? joinPooledSandbox(plan, name) : undefined;
    if (!pool || joined === undefined) return plan.container;
    // take() hands back the name it was given, or undefined when no warm sandbox is left.
    return (await pool.take(name).catch(() => undefined)) === name ? joined : plan.container;
  }

  /** Creates the container unless it exists; returns whether this call created it. */
  private async ensureCreated(c: ContainerCreate): Promise<boolean> {
    try {
      await this.docker.createContainer({ name: c.name, ...c.body });
      return true;
    } catch (err) {
      if (isStatus(err, 409)) return false; // made by an earlier attempt that crashed before recording it
      throw engineError(err, `creating container ${c.name}`);
    }
  }

  /**
   * The engine pins `container:<sandbox>` to the sandbox's id at create time. A task container
   * that never started and points at a sandbox since replaced (removed by hand, say) is
   * removed so it can be made again. Returns the sandbox as inspected, and whether the task
   * container was removed.
   */
  private async dropStaleSandboxLink(container: ContainerCreate, sandboxCreate: ContainerCreate): Promise<{ sandbox: Docker.ContainerInspectInfo | undefined; dropped: boolean }> {
    const [task, sandbox] = await Promise.all([this.inspect(container.name), this.inspect(sandboxCreate.name)]);
    if (!task || !sandbox || task.State.Status !== 'created') return { sandbox, dropped: false };
    const mode = task.HostConfig.NetworkMode ?? '';
    if (mode === `container:${sandbox.Id}` || mode === `container:${sandboxCreate.name}`) return { sandbox, dropped: false };
    try {
      await this.docker.getContainer(task.Id).remove({ force: true });
    } catch (err) {
      if (!isStatus(err, 404)) throw engineError(err, `removing ${container.name}`);
    }
    return { sandbox, dropped: true };
  }

  /** berth's /etc/hosts for the task, with the hostname the engine gave its sandbox. A task
   *  without networks has its gateway bridge address there, as one on the engine's bridge has
   *  its bridge address. */
  private async writeHostsFile(hosts: HostsFileInput, sandbox: Docker.ContainerInspectInfo | undefined): Promise<void> {
    if (!sandbox) throw new TaskError('E_SANDBOX', `sandbox ${sandboxName(this.task)} is gone`, { temporary: true });
    const own = hosts.addresses.length === 0 && this.gatewayAddress ? { ...hosts, addresses: [this.gatewayAddress] } : hosts;
    const data = renderHostsFile(own, sandbox.Config.Hostname, sandbox.Config.Domainname);
    try {
      await this.env.taskDirs.write(this.task.id, [{ path: HOSTS_FILE, data, uid: 0, gid: 0, mode: 0o644 }]);
    } catch (err) {
      throw new TaskError('E_TASK_DIR', `writing the task's /etc/hosts: ${(err as Error).message}`, { temporary: true, cause: err });
    }
  }

  private async ensureRunning(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).start();
    } catch (err) {
      if (isStatus(err, 304)) return;
      throw engineError(err, `starting ${name}`);
    }
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.refuseUnplumbable();
    const plan = this.plan();
    // After a host reboot the task directory is gone; put the files back before anything mounts them.
    if (!(await this.materialized(plan))) await this.materialize(plan, await this.resolveFiles(plan, signal));
    if (plan.sandbox) {
      const remade = await this.ensureCreated(plan.sandbox);
      await this.ensureRunning(plan.sandbox.name);
      const { sandbox, dropped } = await this.dropStaleSandboxLink(plan.container, plan.sandbox);
      if (dropped) await this.ensureCreated(plan.container);
      // Unknown health (an agent restarted before RUNNING) publishes not healthy until known.
      await this.plumb(plan, this.fresh ? !this.fresh.healthcheck : false, 'check', sandbox);
      // prepare() in this process wrote it for this sandbox; else (an agent restart, a host
      // reboot, a sandbox made anew with another hostname) it is written again.
      if (plan.hosts && (remade || !this.fresh)) await this.writeHostsFile(plan.hosts, sandbox);
    }
    const name = plan.container.name;
    // A container this controller created moments ago in prepare() is known to be unstarted;
    // any other is looked at first.
    const fresh = this.fresh;
    this.fresh = undefined;
    let healthcheck: boolean;
    if (fresh) {
      healthcheck = fresh.healthcheck;
    } else {
      const info = await this.inspect(name);
      if (!info) throw new TaskError('E_NO_CONTAINER', `container ${name} is missing`);
      // Anything past "created" was started by an earlier attempt (the agent died before it
      // recorded RUNNING): never start it twice. If it has exited since, wait() reports how.
      if (info.State.Status !== 'created') {
        if (info.State.Running && hasHealthcheck(info)) await this.waitHealthy(info.Id, signal);
        else if (info.State.Running) this.setHealthy(true);
        return;
      }
      // Joined to a warm sandbox that is down since (a host reboot): it comes up first.
      if (!plan.sandbox && (info.HostConfig.NetworkMode ?? '').startsWith('container:')) await this.ensureRunning(sandboxName(this.task));
      healthcheck = hasHealthcheck(info);
    }
    try {
      try {
        await this.docker.getContainer(name).start();
      } catch (err) {
        if (isStatus(err, 404)) throw new TaskError('E_NO_CONTAINER', `container ${name} is missing`);
        // The engine answering with an error (no such binary...) will not change on a retry; the
        // engine not answering might.
        if (!isStatus(err, 304)) throw engineError(err, `starting ${name}`, (err as { statusCode?: number }).statusCode === undefined);
      }
      if (healthcheck) await this.waitHealthy(name, signal);
      else this.setHealthy(true);
    } catch (err) {
      // A start that failed for good (the container exited, unhealthy, the engine refused it)
      // ends the task: nothing of it may stay published.
      if (!(err as { temporary?: boolean }).temporary && !signal.aborted) await this.release();
      throw err;
    }
  }

  /** Withdraws the task from the node's networking (names, endpoints, backends, links). */
  private async release(): Promise<void> {
    // Best effort: detach is idempotent and remove() runs it again.
    await this.env.networking?.sandboxes.detach(this.task.id).catch(() => undefined);
  }

  /** Tells the networking (the DNS) whether the task belongs in its service's answers. */
  private setHealthy(healthy: boolean): void {
    this.env.networking?.sandboxes.setHealthy(this.task.id, healthy);
  }

  /**
   * Resolves once the container reports healthy; stops it and fails when it reports unhealthy
   * or exits. Events alone can miss the change: the engine answers an events request before it
   * has subscribed it (moby's getEvents flushes the headers first), so a change right after the
   * subscription can be lost, and the task would stay STARTING for good — holding a rolling
   * update, which waits without a timeout for each new task to reach RUNNING. The container is
   * looked at again every HEALTH_RECHECK_MS while no event comes.
   */
  private async waitHealthy(id: string, signal: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const stopFollowing = whenAborted(signal, () => ac.abort(signal.reason));
    try {
      const events = (await containerEvents(this.docker, { container: [id], event: HEALTH_EVENTS }, ac.signal))[Symbol.asyncIterator]();
      if (await this.startVerdict(id)) return;
      let next = events.next();
      for (;;) {
        const got = await Promise.race([next, sleep(HEALTH_RECHECK_MS, RECHECK, { signal: ac.signal })]);
        if (got === RECHECK) {
          if (await this.startVerdict(id)) return;
          continue;
        }
        if (got.done) break;
        next = events.next();
        const ev = got.value;
        if (ev.Action === HEALTHY) return this.setHealthy(true);
        if (ev.Action === UNHEALTHY) return await this.failUnhealthy();
        if (ev.Action === 'destroy') throw new TaskError('E_NO_CONTAINER', `container ${this.plan().container.name} was removed while starting`);
        if (ev.Action === 'die' && (await this.startVerdict(id))) return;
      }
      if (signal.aborted) throw signal.reason;
      throw new TaskError('E_ENGINE', 'the engine closed the event stream while waiting for the container to become healthy', { temporary: true });
    } catch (err) {
      throw engineError(err, 'waiting for the container to become healthy');
    } finally {
      stopFollowing();
      ac.abort();
    }
  }

  /** What the container's state says of a start that waits for health: true when it is over
   *  (healthy, or exited with 0); throws when it failed (exited non-zero, unhealthy, gone). */
  private async startVerdict(id: string): Promise<boolean> {
    const now = await this.inspect(id);
    if (!now) throw new TaskError('E_NO_CONTAINER', `container ${this.plan().container.name} vanished while starting`);
    if (!now.State.Running) {
      this.exitedWhileStarting(now);
      return true;
    }
    const status = healthStatus(now);
    if (status === 'healthy') {
      this.setHealthy(true);
      return true;
    }
    if (status === 'unhealthy') await this.failUnhealthy();
    return false;
  }

  private exitedWhileStarting(info: Docker.ContainerInspectInfo): void {
    // Exit 0 before ever being healthy is a finished task, as on Docker: wait() reports it.
    if (info.State.ExitCode !== 0) throw exitError(info.State.ExitCode, info.State.OOMKilled);
  }

  private async failUnhealthy(): Promise<never> {
    await this.stopUnhealthy();
    const info = await this.inspect(this.plan().container.name);
    throw new TaskError('E_UNHEALTHY', UNHEALTHY_MESSAGE, { exitCode: info?.State.ExitCode ?? 0 });
  }

  /**
   * Attaches the running sandbox's netns to the task's overlays (or the gateway bridge) and DNS. prepare attaches;
   * start and wait only `check`: nothing happens when this process attached the same namespace
   * already, and a restarted agent (or a restarted sandbox, with a new netns) is plumbed again
   * before the task is relied on. Idempotent either way.
   */
  private async plumb(plan: TaskPlan, healthy: boolean, how: 'attach' | 'check', inspected?: Docker.ContainerInspectInfo): Promise<void> {
    const networking = this.env.networking;
    if (!plan.sandbox || !networking) return;
    const { sandboxes, networks } = networking;
    if (how === 'check' && this.sandboxNetns !== undefined && sandboxes.isAttached(this.task.id, this.sandboxNetns)) return;
    // The caller's inspect of the running sandbox serves, when it has one: one engine call less per start.
    const sandbox = inspected ?? (await this.inspect(plan.sandbox.name));
    if (!sandbox?.State.Running || !sandbox.State.Pid) throw new TaskError('E_SANDBOX', `sandbox ${plan.sandbox.name} is not running`, { temporary: true });
    const netnsPath = `/proc/${sandbox.State.Pid}/ns/net`;
    this.sandboxNetns = netnsPath;
    if (how === 'check' && sandboxes.isAttached(this.task.id, netnsPath)) return;
    try {
      this.gatewayAddress = (await sandboxes.attach(networks, netnsPath, { healthy })).gatewayAddress;
    } catch (err) {
      // A network that never showed up, or invalid network input, rejects/fails the task; the
      // error says whether a retry can help (one netd did not classify is taken as temporary).
      const temporary = !(err instanceof BerthError) || err.temporary;
      throw new TaskError('E_NETWORK', `attaching ${plan.sandbox.name} to its networks: ${(err as Error).message}`, { temporary, cause: err });
    }
  }

  async wait(signal: AbortSignal): Promise<ExitStatus> {
    await this.refuseUnplumbable();
    const plan = this.plan();
    const name = plan.container.name;
    // The inspect containerStatus() made as the task started serves: if the container has
    // exited since, the engine's wait below returns at once with its exit code.
    const recent = this.recent && Date.now() - this.recent.at < RECENT_INSPECT_MS ? this.recent.info : undefined;
    this.recent = undefined;
    const info = recent ?? (await this.inspect(name));
    if (!info) throw new TaskError('E_NO_CONTAINER', `container ${name} vanished`);
    if (info.State.Running) await this.plumb(plan, !hasHealthcheck(info) || healthStatus(info) === 'healthy', 'check');
    let unhealthy = false;
    let exitCode = info.State.ExitCode;
    if (info.State.Running) {
      const ac = new AbortController();
      const stopFollowing = whenAborted(signal, () => ac.abort(signal.reason));
      try {
        if (hasHealthcheck(info)) {
          const events = await containerEvents(this.docker, { container: [info.Id], event: ['health_status'] }, ac.signal).catch((err: unknown) => {
            throw engineError(err, `watching the health of ${name}`);
          });
          const watch = async () => {
            const current = await this.inspect(info.Id);
            let bad = current !== undefined && healthStatus(current) === 'unhealthy';
            if (!bad && current !== undefined && healthStatus(current) === 'healthy') this.setHealthy(true);
            if (!bad) {
              for await (const ev of events) {
                if (ev.Action === HEALTHY) this.setHealthy(true);
                if (ev.Action === UNHEALTHY) {
                  bad = true;
                  break;
                }
              }
            }
            if (!bad || ac.signal.aborted) return;
            unhealthy = true;
            await this.stopUnhealthy();
          };
          watch().catch(() => undefined);
        }
        exitCode = (await waitForExit(this.docker, name, ac.signal)).StatusCode;
      } catch (err) {
        if (signal.aborted || isAbort(err)) throw err;
        throw engineError(err, `waiting for ${name}`);
      } finally {
        stopFollowing();
        ac.abort();
      }
    }
    const after = await this.inspect(name).catch(() => undefined);
    const sandbox = this.sandboxToStop();
    if (sandbox) await this.stopContainer(sandbox, SANDBOX_STOP_S).catch(() => undefined);
    // The task is over: its names, endpoints and backends go now, on this node and (through the
    // gossip) on every other, as Docker releases a container's network when it exits — not when
    // the manager removes the task from its history, which for a failed task may be never.
    await this.release();
    if (unhealthy) throw new TaskError('E_UNHEALTHY', UNHEALTHY_MESSAGE, { exitCode });
    if (exitCode !== 0) throw exitError(exitCode, after?.State.OOMKilled ?? false);
    return { exitCode: 0 };
  }

  /**
   * A task resumed on a node that can no longer plumb its overlays (agentd restarted with the
   * data plane off or failing) is stopped and fails naming the network, rather than run on cut
   * off from its names, peers and load balancers; the manager places it elsewhere.
   */
  private async refuseUnplumbable(): Promise<void> {
    const err = this.env.unplumbable;
    if (!err) return;
    await this.stopTask().catch(() => undefined);
    await this.stopContainer(sandboxName(this.task), SANDBOX_STOP_S).catch(() => undefined);
    throw err;
  }

  /** The sandbox that goes down with the task: berth's own, or a warm one the task may have
   *  taken (stopped, it gives back its bridge address as the task's own netns would). */
  private sandboxToStop(): string | undefined {
    return this.plan().sandbox?.name ?? (this.env.sandboxPool ? sandboxName(this.task) : undefined);
  }

  /** Stops one container: its stop signal, then SIGKILL when the grace period ends. */
  private async stopContainer(name: string, graceS: number): Promise<void> {
    try {
      await this.docker.getContainer(name).stop({ t: graceS });
    } catch (err) {
      if (isStatus(err, 304) || isStatus(err, 404)) return;
      throw engineError(err, `stopping ${name}`);
    }
  }

  /**
   * An unhealthy task is failed, as on Docker: out of its service's answers at once, and, like
   * any stop, its names withdrawn before the container is stopped.
   */
  private async stopUnhealthy(): Promise<void> {
    this.setHealthy(false);
    await this.env.networking?.sandboxes.unpublish(this.task.id);
    await this.stopTask();
  }

  private stopTask(): Promise<void> {
    const plan = this.plan();
    return this.stopContainer(plan.container.name, Math.ceil(plan.stopGraceMs / 1000));
  }

  /** Not abortable: a stop once begun runs to the end of the grace period (the engine escalates). */
  async shutdown(_signal?: AbortSignal): Promise<void> {
    // Names stop resolving and load balancers drain it before the container is stopped.
    await this.env.networking?.sandboxes.unpublish(this.task.id, { drain: true });
    await this.stopTask();
    const sandbox = this.sandboxToStop();
    if (sandbox) await this.stopContainer(sandbox, SANDBOX_STOP_S);
    await this.env.networking?.sandboxes.detach(this.task.id);
  }

  async terminate(): Promise<void> {
    for (const name of [taskName(this.task), sandboxName(this.task)]) {
      try {
        await this.docker.getContainer(name).kill();
        await this.docker.getContainer(name).wait({ condition: 'not-running', abortSignal: AbortSignal.timeout(KILL_WAIT_MS) } as object);
      } catch (err) {
        if (isStatus(err, 404) || isStatus(err, 409)) continue;
        throw engineError(err, `killing ${name}`);
      }
    }
  }

  /**
   * Removes the task's tmpfs and its containers (found by label and by name). Works for any
   * task, even one whose spec could not be translated. The secrets go first: if the agent dies
   * half-way, what is left is a visible container, not invisible secret material.
   */
  async remove(): Promise<void> {
    await this.env.networking?.sandboxes.detach(this.task.id).catch(() => undefined);
    try {
      await this.env.taskDirs.remove(this.task.id);
    } catch (err) {
      throw new TaskError('E_TASK_DIR', `removing the task's secrets directory: ${(err as Error).message}`, { temporary: true, cause: err });
    }
    let found: Docker.ContainerInfo[];
    try {
      found = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_BERTH_TASK_ID}=${this.task.id}`] } });
    } catch (err) {
      throw engineError(err, `listing the containers of task ${this.task.id}`);
    }
    // The task container first: the sandbox owns the netns it joined.
    const names = [taskName(this.task), ...found.map((c) => c.Id), sandboxName(this.task)];
    for (const name of [...new Set(names)]) {
      try {
        await this.docker.getContainer(name).remove({ force: true, v: false });
      } catch (err) {
        if (isStatus(err, 404) || (isStatus(err, 409) && /already in progress/.test(engineMessage(err)))) continue;
        throw engineError(err, `removing ${name}`);
      }
    }
  }

  async containerStatus(): Promise<ContainerStatusReport | undefined> {
    const info = await this.inspect(taskName(this.task));
    if (!info) return undefined;
    this.recent = { info, at: Date.now() };
    return { containerId: info.Id, pid: info.State.Pid, exitCode: info.State.ExitCode };
  }

  close(): void {}
}

// One task's container on the local Docker Engine. Every method is idempotent and finds the
// container by name first, so a restarted agent adopts what it created before instead of
// making a duplicate.
import type Docker from 'dockerode';
import type { Task } from '../../proto/api.js';
import { TaskError, type ContainerStatusReport, type Controller, type ExitStatus } from '../executor.js';
import { containerConfig, type DockerContainerConfig } from './container-config.js';
import { LABEL_BERTH_ROLE } from './naming.js';

const KILL_WAIT_MS = 5_000;

interface EngineError {
  statusCode?: number;
  message: string;
}

function isStatus(err: unknown, code: number): boolean {
  return (err as EngineError | undefined)?.statusCode === code;
}

function engineError(err: unknown, what: string, temporary = true): TaskError {
  const msg = (err as EngineError).message ?? String(err);
  return new TaskError('E_ENGINE', `${what}: ${msg.trim()}`, { temporary, cause: err });
}

export class DockerController implements Controller {
  private config: DockerContainerConfig | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly task: Task,
  ) {}

  private cfg(): DockerContainerConfig {
    this.config ??= containerConfig(this.task);
    return this.config;
  }

  private container(): Docker.Container {
    return this.docker.getContainer(this.cfg().name);
  }

  private async inspect(): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.container().inspect();
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw engineError(err, `inspecting ${this.cfg().name}`);
    }
  }

  async prepare(): Promise<void> {
    const cfg = this.cfg();
    if (await this.inspect()) return;
    await this.ensureImage(cfg.image);
    try {
      await this.docker.createContainer({
        name: cfg.name,
        ...cfg.body,
        Labels: { ...(cfg.body.Labels as Record<string, string>), [LABEL_BERTH_ROLE]: 'task' },
      });
    } catch (err) {
      if (isStatus(err, 409)) return; // created by an earlier attempt that crashed before recording it
      throw engineError(err, `creating container ${cfg.name}`, !isStatus(err, 400));
    }
  }

  private async ensureImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (err) {
      if (!isStatus(err, 404)) throw engineError(err, `inspecting image ${image}`);
    }
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (e: Error | null) => (e ? reject(e) : resolve())));
    } catch (err) {
      throw new TaskError('E_IMAGE', `No such image: ${image} (not present locally and pulling failed: ${(err as Error).message.trim()})`, { cause: err });
    }
  }

  async start(): Promise<void> {
    const info = await this.inspect();
    if (!info) throw new TaskError('E_NO_CONTAINER', `container ${this.cfg().name} is missing`, {});
    if (info.State.Running) return;
    if (info.State.Status === 'exited' || info.State.Status === 'dead') {
      throw new TaskError('E_ALREADY_EXITED', `container ${this.cfg().name} already ran and exited (${info.State.ExitCode})`, { exitCode: info.State.ExitCode });
    }
    try {
      await this.container().start();
    } catch (err) {
      if (isStatus(err, 304)) return;
      throw engineError(err, `starting ${this.cfg().name}`, false);
    }
  }

  async wait(signal: AbortSignal): Promise<ExitStatus> {
    const info = await this.inspect();
    if (!info) throw new TaskError('E_NO_CONTAINER', `container ${this.cfg().name} vanished`, {});
    let exit: { StatusCode: number };
    if (!info.State.Running) {
      exit = { StatusCode: info.State.ExitCode };
    } else {
      exit = (await this.container().wait({ abortSignal: signal } as object)) as { StatusCode: number };
    }
    if (exit.StatusCode !== 0) {
      throw new TaskError('E_EXIT', `task: non-zero exit (${exit.StatusCode})`, { exitCode: exit.StatusCode });
    }
    return { exitCode: 0 };
  }

  async shutdown(): Promise<void> {
    const info = await this.inspect();
    if (!info || !info.State.Running) return;
    try {
      // Docker applies the container's StopSignal, then SIGKILL after the grace period.
      await this.container().stop({ t: this.cfg().stopGraceSeconds });
    } catch (err) {
      if (isStatus(err, 304) || isStatus(err, 404)) return;
      throw engineError(err, `stopping ${this.cfg().name}`);
    }
  }

  async terminate(): Promise<void> {
    try {
      await this.container().kill();
      await this.container().wait({ condition: 'not-running', abortSignal: AbortSignal.timeout(KILL_WAIT_MS) } as object);
    } catch (err) {
      if (isStatus(err, 404) || isStatus(err, 409)) return;
      throw engineError(err, `killing ${this.cfg().name}`);
    }
  }

  async remove(): Promise<void> {
    try {
      await this.container().remove({ force: true, v: false });
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw engineError(err, `removing ${this.cfg().name}`);
    }
  }

  async containerStatus(): Promise<ContainerStatusReport | undefined> {
    const info = await this.inspect();
    if (!info) return undefined;
    return { containerId: info.Id, pid: info.State.Pid, exitCode: info.State.ExitCode };
  }

  close(): void {}
}

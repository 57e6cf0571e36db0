// The Docker executor: describes the node from the local engine and makes a controller per task.
import Docker from 'dockerode';
import type { NodeDescriptionIn, Task } from '../../proto/api.js';
import { buildNodeDescription, engineInventory, hostInventory } from '../../node-description.js';
import type { Executor } from '../executor.js';
import { InMemoryDependencies } from '../dependencies.js';
import { DockerController } from './controller.js';

export function dockerClient(dockerHost: string): Docker {
  const u = new URL(dockerHost);
  if (u.protocol === 'unix:') return new Docker({ socketPath: u.pathname });
  if (u.protocol === 'tcp:' || u.protocol === 'http:') return new Docker({ host: u.hostname, port: Number(u.port || 2375) });
  throw new Error(`unsupported DOCKER_HOST ${dockerHost} (use unix:///path or tcp://host:port)`);
}

export class DockerExecutor implements Executor {
  readonly dependencies = new InMemoryDependencies();
  constructor(readonly docker: Docker) {}

  async describe(): Promise<NodeDescriptionIn> {
    const [host, engine] = await Promise.all([hostInventory(''), engineInventory(this.docker)]);
    return buildNodeDescription(host, engine);
  }

  controller(task: Task): DockerController {
    return new DockerController(this.docker, task);
  }
}

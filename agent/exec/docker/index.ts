// The Docker executor's public surface.
export { DEFAULT_PAUSE_IMAGE, DEFAULT_DEPENDENCY_WAIT_MS, DockerExecutor, dockerClient, type DockerExecutorOptions } from './executor.js';
export { DockerController, UNHEALTHY_MESSAGE } from './controller.js';
export { translateTask, type TaskPlan, type NodeInfo } from './container-config.js';
export { listBerthContainers, cleanupOrphans, type BerthContainer, type OrphanReport } from './inventory.js';
export { DockerLogSource } from './logs.js';
export { DEFAULT_TASKS_ROOT, TaskDirs } from './task-dir.js';
export * from './naming.js';

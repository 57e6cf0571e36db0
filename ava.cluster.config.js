import { suite } from './ava.base.js';
// One file boots a cluster of qemu guests (systemd, dockerd, agentd) under TCG for all its tests.
export default suite('cluster', { concurrency: 1, timeout: '15m' });

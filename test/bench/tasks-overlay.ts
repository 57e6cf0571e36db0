// `npm run bench -- tasks-overlay`: the `tasks` benchmark with every task on one overlay network,
// as most Swarm services run (see tasks.ts). berth at its default configuration: an overlay task
// gets a sandbox berth plumbs, and never a warm one.
import { tasksBenchmark } from './tasks.js';

export default tasksBenchmark(20, 9, { overlay: true });

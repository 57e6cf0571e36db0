// `npm run bench -- tasks-100`: the `tasks` benchmark at 100 replicas on one node (see tasks.ts).
import { tasksBenchmark } from './tasks.js';

export default tasksBenchmark(100, 3);

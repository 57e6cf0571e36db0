// `npm run bench -- tasks-overlay-100`: `tasks-overlay` at 100 replicas on one node (see tasks.ts).
import { tasksBenchmark } from './tasks.js';

export default tasksBenchmark(100, 3, { overlay: true });

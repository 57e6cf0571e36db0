import { suite } from './ava.base.js';
// Root-only suites that build network namespaces and start private dockerds: keep files
// from running all at once on a 2-core machine.
export default suite('integration', { concurrency: 2 });

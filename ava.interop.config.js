import { suite } from './ava.base.js';
export default suite('interop', { concurrency: 1, timeout: '10m' });

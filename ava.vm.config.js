import { suite } from './ava.base.js';
// Each VM file boots one qemu guest under TCG (slow); run them one after another.
export default suite('vm', { concurrency: 1, timeout: '10m' });

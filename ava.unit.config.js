import { suite } from './ava.base.js';
export default suite('unit');

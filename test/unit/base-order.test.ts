import test from 'ava';
import { byCodeUnit } from '../../base/index.js';

test('byCodeUnit orders by UTF-16 code unit, the same on every host whatever its locale', (t) => {
  const sorted = ['web', 'Web', 'api', '10', '9', 'ä', 'z', 'udp', 'tcp', ''].sort(byCodeUnit);
  t.deepEqual(sorted, ['', '10', '9', 'Web', 'api', 'tcp', 'udp', 'web', 'z', 'ä']);
  t.is(byCodeUnit('a', 'a'), 0);
  t.true(byCodeUnit('a', 'b') < 0);
  t.true(byCodeUnit('b', 'a') > 0);
});

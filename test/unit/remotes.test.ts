import test from 'ava';
import { Remotes, jitteredBackoff, WEIGHT_FAILURE } from '../../agent/session/remotes.js';

test('picks the best-weighted manager and avoids the one that just failed', (t) => {
  const r = new Remotes(['a:1', 'b:1']);
  r.observe('a:1', WEIGHT_FAILURE);
  t.is(r.pick(), 'b:1');
  t.is(r.pick('b:1'), 'a:1');
  const single = new Remotes(['only:1']);
  t.is(single.pick('only:1'), 'only:1');
  t.is(new Remotes([]).pick(), undefined);
});

test("the session's manager list replaces the seeds, keeping learned weights", (t) => {
  const r = new Remotes(['seed:1']);
  r.replace([{ addr: 'm1:2377', weight: 10 }, { addr: 'm2:2377', weight: 10 }]);
  t.deepEqual(r.list(), ['m1:2377', 'm2:2377']);
  r.observe('m1:2377', WEIGHT_FAILURE);
  r.replace([{ addr: 'm1:2377', weight: 10 }, { addr: 'm2:2377', weight: 10 }]);
  t.is(r.pick(), 'm2:2377');
  r.replace([]);
  t.deepEqual(r.list(), ['m1:2377', 'm2:2377']);
});

test('backoff doubles to its cap with jitter in [base/2, base] and resets', (t) => {
  const lo = jitteredBackoff(100, 800, 2, () => 0);
  t.deepEqual([lo.next(), lo.next(), lo.next(), lo.next(), lo.next()], [50, 100, 200, 400, 400]);
  const hi = jitteredBackoff(100, 800, 2, () => 1);
  t.deepEqual([hi.next(), hi.next(), hi.next(), hi.next(), hi.next()], [100, 200, 400, 800, 800]);
  hi.reset();
  t.is(hi.next(), 100);
});

import test from 'ava';
import { Remotes, jitteredBackoff, WEIGHT_FAILURE, WEIGHT_SUCCESS, WEIGHT_UNREACHABLE, UNREACHABLE_AVOID_MS } from '../../agent/session/remotes.js';

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

test('a manager never reached ranks below managers that answered: rounds without a leader rarely go back to it', (t) => {
  // Three managers; one stopped (refused), the other two answer "no leader" while the swarm
  // elects one. Each round picks as the session loop does (never the one that just failed).
  // Issue #13: with every failure weighed alike, a third of the rounds went to the stopped
  // manager — after the election too, costing a backoff round (up to 8 s) before Ready.
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const r = new Remotes(['m1:2377', 'm2:2377', 'm3:2377']);
  for (let i = 0; i < 20; i++) r.observe(`m${(i % 3) + 1}:2377`, WEIGHT_SUCCESS);
  const dead = 'm1:2377';
  let last: string | undefined;
  const picks: string[] = [];
  for (let round = 0; round < 12; round++) {
    const m = r.pick(last, random)!;
    picks.push(m);
    r.observe(m, m === dead ? WEIGHT_UNREACHABLE : WEIGHT_FAILURE);
    last = m;
  }
  t.true(picks.filter((m) => m === dead).length <= 1, `rounds on the stopped manager: ${picks.join(' ')}`);
  // The election is over: the next round goes to a manager that is there.
  t.not(r.pick(last, random), dead);
});

test('a manager refused long ago and back since ranks above one refused just now', (t) => {
  // The failover suite's history (CI, issue #13): m1 stopped in one test, came back, and was never
  // tried again; in the next test m2 (the leader then) stopped while agentd was on m3. Rounds
  // without a leader must alternate between m1 and m3, not return to m2.
  let now = 1_000_000;
  const random = () => 0.5;
  const r = new Remotes(['m1:2377', 'm2:2377', 'm3:2377']);
  r.observe('m1:2377', WEIGHT_UNREACHABLE, now);
  now += 60_000;
  r.observe('m3:2377', WEIGHT_SUCCESS, now);
  r.observe('m3:2377', WEIGHT_FAILURE, now);
  let last: string | undefined = 'm3:2377';
  const picks: string[] = [];
  for (let round = 0; round < 10; round++) {
    const m: string = r.pick(last, random, now)!;
    picks.push(m);
    r.observe(m, m === 'm2:2377' ? WEIGHT_UNREACHABLE : WEIGHT_FAILURE, now);
    last = m;
    now += 1_500;
  }
  t.true(picks.filter((m) => m === 'm2:2377').length <= 1, `rounds on the stopped manager: ${picks.join(' ')}`);
  t.true(picks.includes('m1:2377'), `the manager that is back is tried: ${picks.join(' ')}`);
  // Once the avoidance has lapsed, a manager down all along is weighed with the others again.
  t.not(r.pick('m1:2377', random, now), 'm2:2377');
  r.observe('m3:2377', -1000, now);
  t.is(r.pick('m1:2377', random, now + UNREACHABLE_AVOID_MS), 'm2:2377');
});

test('when every other manager was refused too, a refused one is still picked', (t) => {
  const r = new Remotes(['a:1', 'b:1']);
  r.observe('a:1', WEIGHT_UNREACHABLE, 0);
  r.observe('b:1', WEIGHT_UNREACHABLE, 0);
  t.truthy(r.pick(undefined, Math.random, 1));
  t.is(r.pick('a:1', Math.random, 1), 'b:1');
});

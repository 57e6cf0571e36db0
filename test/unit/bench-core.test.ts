import test from 'ava';
import { BenchError, evaluateGoals, goalMet, median, mediansOf, parseTarget, percentile } from '../bench/core.js';

test('median of odd and even sample counts', (t) => {
  t.is(median([5, 1, 3]), 3);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.is(median([7]), 7);
  t.throws(() => median([]), { instanceOf: BenchError });
});

test('percentile picks the nearest-rank sample', (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  t.is(percentile(xs, 50), 50);
  t.is(percentile(xs, 99), 99);
  t.is(percentile(xs, 100), 100);
});

test('targets parse and compare', (t) => {
  t.deepEqual(parseTarget('<= 1.0'), { op: '<=', bound: 1 });
  t.deepEqual(parseTarget('>= 20'), { op: '>=', bound: 20 });
  t.true(goalMet(1, '<= 1.0'));
  t.false(goalMet(1.01, '<= 1.0'));
  t.true(goalMet(20, '>= 20'));
  t.false(goalMet(19.9, '>= 20'));
  t.false(goalMet(Number.NaN, '>= 20'));
  t.throws(() => parseTarget('<=1'), { instanceOf: BenchError });
  t.throws(() => parseTarget('about 3'), { instanceOf: BenchError });
});

test('mediansOf takes each figure over the runs and skips missing samples', (t) => {
  const m = mediansOf([{ a: 1, b: 10 }, { a: 3 }, { a: 2, b: 30 }]);
  t.deepEqual(m, { a: 2, b: 20 });
});

test('evaluateGoals computes ratios from medians', (t) => {
  const goals = evaluateGoals(
    {
      ratio: { value: (m) => m.berth! / m.docker!, target: '<= 1.0' },
      speedup: { value: (m) => m.docker! / m.berth!, target: '>= 20' },
    },
    { berth: 2, docker: 10 },
  );
  t.deepEqual(goals.ratio, { value: 0.2, target: '<= 1.0', met: true });
  t.deepEqual(goals.speedup, { value: 5, target: '>= 20', met: false });
});

import test from 'ava';
import { STARTUP_STEPS, StartupTimeline } from '../../agent/startup-timeline.js';
import { compileCacheDir, DEFAULT_COMPILE_CACHE_DIR } from '../../agent/compile-cache.js';

test('a step counts once, at its first mark; timings come in step order; listeners hear each first mark', (t) => {
  let now = 10;
  let cpu = 1;
  const timeline = new StartupTimeline(() => now, () => cpu++);
  const heard: string[] = [];
  timeline.onMark((step, ms) => heard.push(`${step}@${ms}`));
  timeline.mark('sessionOpen');
  now = 20;
  timeline.mark('modulesLoaded');
  now = 30;
  timeline.mark('sessionOpen');
  t.deepEqual(timeline.timings(), { modulesLoaded: 20, sessionOpen: 10 });
  t.deepEqual(Object.keys(timeline.timings()), ['modulesLoaded', 'sessionOpen'], 'in STARTUP_STEPS order');
  t.deepEqual(heard, ['sessionOpen@10', 'modulesLoaded@20']);
  t.deepEqual(timeline.cpuTimings(), { modulesLoaded: 2, sessionOpen: 1 }, 'the CPU used by each step, taken with it');
  t.true(STARTUP_STEPS.indexOf('modulesLoaded') < STARTUP_STEPS.indexOf('sessionOpen'));
});

test('the compile cache: under /var/cache/berth by default, elsewhere or off by BERTH_COMPILE_CACHE, Node’s own variable first', (t) => {
  t.is(compileCacheDir({}), DEFAULT_COMPILE_CACHE_DIR);
  t.is(compileCacheDir({ BERTH_COMPILE_CACHE: '/tmp/cc' }), '/tmp/cc');
  t.is(compileCacheDir({ BERTH_COMPILE_CACHE: 'off' }), undefined);
  t.is(compileCacheDir({ BERTH_COMPILE_CACHE: '' }), undefined);
  t.is(compileCacheDir({ NODE_COMPILE_CACHE: '/n', BERTH_COMPILE_CACHE: 'off' }), '/n');
});

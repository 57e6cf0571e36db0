// The node's phase as agentctl status and systemd's STATUS= show it: joining until an attempt
// fails, retrying (why, when next) until a session is up, connected, degraded while part of
// the node does not work.
import test from 'ava';
import { AgentPhase, type AgentPhaseStatus } from '../../agent/phase.js';
import { notifyMessage, watchdogUsec } from '../../agent/systemd.js';

function clock(start = Date.parse('2026-12-01T10:00:00Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('joining → retrying with the error and the next attempt → connected; the failure count restarts', (t) => {
  const c = clock();
  const p = new AgentPhase(c.now);
  const seen: AgentPhaseStatus[] = [];
  p.onChange((s) => seen.push(s));
  t.is(p.status.state, 'joining');
  p.attempting('join', '10.0.0.1:2377');
  t.is(p.status.state, 'joining');
  t.is(p.describe(), 'joining the swarm through 10.0.0.1:2377');
  c.advance(10_000);
  p.failed('join', '10.0.0.1:2377', 'no answer within 10000 ms', 4_000);
  t.like(p.status, { state: 'retrying', failures: 1, lastError: 'no answer within 10000 ms', nextAttemptAt: '2026-12-01T10:00:14.000Z', since: '2026-12-01T10:00:10.000Z' });
  t.is(p.describe(), 'retrying (1 failed attempt; last error: no answer within 10000 ms); next attempt in 4 s');
  c.advance(4_000);
  p.attempting('join', '10.0.0.1:2377');
  t.like(p.status, { state: 'retrying', nextAttemptAt: undefined, failures: 1 });
  p.attempting('session', '10.0.0.1:2377');
  p.sessionUp('10.0.0.1:2377');
  t.like(p.status, { state: 'connected', failures: 0, nextAttemptAt: undefined, lastError: 'no answer within 10000 ms' });
  t.is(p.describe(), 'connected to 10.0.0.1:2377');
  t.deepEqual(
    seen.map((s) => s.state),
    ['joining', 'retrying', 'retrying', 'retrying', 'connected'],
  );
});

test('a session that ends: retrying (session), then connected again', (t) => {
  const p = new AgentPhase(clock().now);
  p.attempting('session', 'm1:2377');
  p.sessionUp('m1:2377');
  p.failed('session', 'm1:2377', 'heartbeat failed', 200);
  t.like(p.status, { state: 'retrying', attempt: 'session', failures: 1 });
  t.regex(p.describe(), /^retrying \(1 failed attempt; last error: heartbeat failed\); next attempt in 1 s$/);
  p.attempting('session', 'm2:2377');
  t.is(p.describe(), 'retrying (1 failed attempt; last error: heartbeat failed); retrying m2:2377 now');
  p.sessionUp('m2:2377');
  t.is(p.status.state, 'connected');
});

test('degraded only while connected; the reasons show in status and STATUS=', (t) => {
  const p = new AgentPhase(clock().now);
  p.setDegraded(['data plane failed']);
  t.is(p.status.state, 'joining', 'not connected yet: joining says more than degraded');
  t.deepEqual(p.status.degraded, ['data plane failed']);
  p.sessionUp('m1:2377');
  t.is(p.status.state, 'degraded');
  t.is(p.describe(), 'degraded (data plane failed); connected to m1:2377');
  p.setDegraded([]);
  t.is(p.status.state, 'connected');
  p.failed('session', 'm1:2377', 'x', 100);
  p.setDegraded(['data plane failed']);
  t.is(p.status.state, 'retrying');
});

test('status() is a copy: a caller cannot change the phase', (t) => {
  const p = new AgentPhase(clock().now);
  p.setDegraded(['a']);
  const s = p.status;
  s.degraded.push('b');
  s.state = 'connected';
  t.deepEqual(p.status.degraded, ['a']);
  t.is(p.status.state, 'joining');
});

test('sd_notify message: KEY=VALUE lines, a value never spans lines', (t) => {
  t.is(notifyMessage({ READY: 1, STATUS: 'ready; connected to m:2377' }), 'READY=1\nSTATUS=ready; connected to m:2377');
  t.is(notifyMessage({ STATUS: 'retrying (last error: 14 UNAVAILABLE: No connection established\n  at x)' }), 'STATUS=retrying (last error: 14 UNAVAILABLE: No connection established at x)');
});

test('WATCHDOG_USEC: used only when meant for this pid and well formed', (t) => {
  t.is(watchdogUsec({ WATCHDOG_USEC: '30000000' }, 42), 30_000_000);
  t.is(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 30_000_000);
  t.is(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42), undefined);
  t.is(watchdogUsec({}, 42), undefined);
  for (const bad of ['', '0', '-5', 'abc', '1.5']) t.is(watchdogUsec({ WATCHDOG_USEC: bad }, 42), undefined, bad);
});

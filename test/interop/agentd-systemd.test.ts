// A real agentd joining a real Swarm manager, watched as systemd would watch it: a NOTIFY_SOCKET
// the test binds (READY, STATUS, WATCHDOG, EXTEND_TIMEOUT_USEC) and agentctl status.
// The manager first does not answer (its host is off the underlay): agentd retries, says why and when
// it tries next, on the control socket and in STATUS=. Once the manager answers: connected,
// then READY=1 (session up, data plane restored), keep-alives every WATCHDOG_USEC/2 from the
// event loop — which stop while the loop is blocked (the test-only SIGUSR2 stall hook).
import test from 'ava';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { uniqueName, waitFor } from '../../scripts/lib/exec.js';
import { logRecords } from '../fixtures/local-agentd.js';
import { bindNotifySocket, type NotifyMessage, type NotifySocket } from '../harness/notify-socket.js';
import type { AgentStatus } from '../../agent/agent.js';

const WATCHDOG_USEC = 4_000_000;
const KEEPALIVE_MS = WATCHDOG_USEC / 1000 / 2;
const STALL_MS = 10_000;

interface World {
  underlay: Underlay;
  manager: SwarmManager;
  engine: PrivateDockerd;
  agentd: AgentdProcess;
  notify: NotifySocket;
  /** When the manager started answering again. */
  unblockedAt: number;
  /** Index of the first message after the session came up. */
  connectedStatus: AgentStatus | undefined;
}

const w: Partial<World> = {};
const cleanups: Array<() => Promise<void>> = [];

// The manager's host leaves the underlay (its link down): its address answers nothing. (An nft
// drop rule in the manager's namespace did not hold there: the manager's dockerd rewrites its
// host's firewall.)
async function blockManager(manager: Underlay['hosts'][number]): Promise<void> {
  await manager.exec('ip', ['link', 'set', 'eth0', 'down']);
}

async function unblockManager(manager: Underlay['hosts'][number]): Promise<void> {
  await manager.exec('ip', ['link', 'set', 'eth0', 'up']);
}

test.before(async () => {
  w.underlay = await createHosts(2);
  cleanups.push(() => w.underlay!.destroy());
  w.manager = await startSwarmManager(w.underlay.hosts[0]!);
  cleanups.push(() => w.manager!.stop());
  w.engine = await startDockerd({ host: w.underlay.hosts[1]! });
  cleanups.push(() => w.engine!.stop());
  w.notify = await bindNotifySocket(`/run/bt/${uniqueName('notify')}.sock`);
  cleanups.push(() => w.notify!.close());
});

test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
});

const statusText = (m: NotifyMessage) => m.fields.STATUS ?? '';

test.serial('agentctl status answers while the manager does not: retrying, the error, the next attempt; then connected', async (t) => {
  const { underlay, manager, engine, notify } = w as World;
  await blockManager(underlay.hosts[0]!);
  const t0 = Date.now();
  const a = await startAgentd({
    host: underlay.hosts[1]!,
    dockerd: engine,
    manager: manager.address,
    joinToken: manager.workerToken,
    env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: String(WATCHDOG_USEC), BERTH_TEST_STALL_ON_SIGUSR2_MS: String(STALL_MS) },
  });
  w.agentd = a;
  cleanups.push(() => a.destroy());

  const first = await waitFor('a first answer on the control socket', () => a.status(), 30_000, 50);
  t.log(`process start → first agentctl answer: ${Date.now() - t0} ms (${first.state.state})`);
  t.true(['joining', 'retrying'].includes(first.state.state));

  // The backoff between attempts is short at first: poll until one answer falls inside it.
  const retrying = await waitFor(
    'status retrying with the error and the next attempt',
    async () => {
      const s = await a.status();
      return s.state.state === 'retrying' && s.state.nextAttemptAt !== undefined ? s : undefined;
    },
    120_000,
    50,
  ).catch(async (err: unknown) => {
    const link = await underlay.hosts[0]!.exec('ip', ['-br', 'link', 'show', 'eth0']).catch((e: Error) => e.message);
    throw new Error(`${(err as Error).message}\n--- manager link ---\n${link}\n--- agentd log ---\n${a.logs().split('\n').filter((l) => !l.includes('"level":20')).slice(-25).join('\n')}`);
  });
  t.log(`retrying: ${JSON.stringify(retrying.state)}`);
  t.is(retrying.state.attempt, 'join');
  t.is(retrying.state.manager, manager.address);
  t.regex(retrying.state.lastError ?? '', /10\.77\.0\.1:2377|deadline|timed out|within/i);
  t.false(retrying.connected);
  t.is(retrying.nodeId, '');
  const st = await notify.waitFor('STATUS= retrying', (m) => statusText(m).startsWith('retrying ('), 30_000);
  t.regex(statusText(st), /failed attempt.*last error: /);
  t.is(notify.with('READY').length, 0, 'not ready while the manager does not answer');
  t.true(notify.with('EXTEND_TIMEOUT_USEC').length > 0, 'the start timeout is extended while agentd waits for the manager');

  await unblockManager(underlay.hosts[0]!);
  w.unblockedAt = Date.now();
  const connected = await waitFor(
    'status connected once the manager answers',
    async () => {
      const s = await a.status();
      return s.state.state === 'connected' ? s : undefined;
    },
    120_000,
  );
  t.log(`manager answers → connected: ${Date.now() - w.unblockedAt} ms (failed attempts before: ${retrying.state.failures}+)`);
  t.true(connected.connected);
  t.regex(connected.nodeId, /^[a-z0-9]{25}$/);
  t.is(connected.state.nextAttemptAt, undefined);
  w.connectedStatus = connected;
});

test.serial('READY=1 only once the session is up and the data plane restored; STATUS lines on the way', async (t) => {
  const { agentd: a, notify } = w as World;
  t.truthy(a, 'the first test started agentd');
  const ready = await notify.waitFor('READY=1', (m) => m.fields.READY === '1', 120_000);
  t.log(`manager answers → READY=1: ${ready.at - w.unblockedAt!} ms`);
  const idx = notify.messages.indexOf(ready);
  const before = notify.messages.slice(0, idx).map(statusText).filter((s) => s !== '');
  t.log(`STATUS before READY: ${JSON.stringify([...new Set(before)])}`);
  t.regex(before[0] ?? '', /^starting/);
  t.true(before.some((s) => s.startsWith('joining the swarm through ')));
  t.true(before.some((s) => s.startsWith('retrying (')));
  t.true(before.some((s) => s.startsWith('connected to ')), 'the session was up before READY');
  t.regex(statusText(ready), /^ready; connected to /);
  t.is(notify.with('READY').length, 1, 'READY is sent once');
  // The order agentd's own log gives: session, data plane restored, then ready.
  const msgs = logRecords(a.logs()).map((r) => String(r.msg));
  const session = msgs.indexOf('session established');
  const restored = msgs.indexOf('data plane: desired state restored');
  const readyLog = msgs.indexOf('ready: session up, data plane restored');
  t.true(session >= 0 && restored >= 0 && readyLog > session && readyLog > restored, `log order: session ${session}, restored ${restored}, ready ${readyLog}`);
  await a.status();
  t.is(notify.messages.slice(idx + 1).filter((m) => 'EXTEND_TIMEOUT_USEC' in m.fields).length, 0, 'no start-timeout extensions after READY');
});

test.serial('WATCHDOG=1 every WATCHDOG_USEC/2 from the event loop; none while the loop is blocked', async (t) => {
  const { agentd: a, notify } = w as World;
  t.truthy(a, 'the first test started agentd');
  const from = notify.messages.length;
  await notify.waitFor('6 keep-alives', () => notify.messages.slice(from).filter((m) => m.fields.WATCHDOG === '1').length >= 6, 60_000);
  const beats = notify.messages.slice(from).filter((m) => m.fields.WATCHDOG === '1').map((m) => m.at);
  const gaps = beats.slice(1).map((b, i) => b - beats[i]!);
  const sorted = [...gaps].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  t.log(`keep-alive gaps (ms): ${gaps.map((g) => Math.round(g)).join(', ')}; expected ${KEEPALIVE_MS}`);
  t.true(median >= KEEPALIVE_MS * 0.75 && median <= KEEPALIVE_MS * 1.5, `median gap ${median} ms`);
  t.true(Math.max(...gaps) < WATCHDOG_USEC / 1000, 'never a gap systemd would take for a stall');

  const stallFrom = notify.messages.length;
  const lastBefore = notify.messages.at(-1)!.at;
  const sentAt = Date.now();
  process.kill(a.pid, 'SIGUSR2');
  const after = await notify.waitFor('keep-alives again after the stall', (m) => m.fields.WATCHDOG === '1' && m.at > sentAt + STALL_MS * 0.9, STALL_MS + 60_000, stallFrom);
  const during = notify.messages.slice(stallFrom).filter((m) => m.fields.WATCHDOG === '1' && m.at > sentAt + 500 && m.at < sentAt + STALL_MS - 500);
  t.is(during.length, 0, 'no keep-alive while the event loop is blocked');
  const gap = after.at - Math.max(lastBefore, ...notify.messages.slice(stallFrom).filter((m) => m.at < after.at && m.fields.WATCHDOG === '1').map((m) => m.at));
  t.log(`gap around a ${STALL_MS} ms stall: ${Math.round(gap)} ms (systemd's limit: ${WATCHDOG_USEC / 1000} ms)`);
  t.true(gap > WATCHDOG_USEC / 1000, 'systemd would have restarted agentd');
  // agentd is alive after the stall (nothing here restarts it): it still answers.
  const s = await waitFor('agentd to answer after the stall', () => a.status(), 30_000);
  t.true(['connected', 'retrying', 'joining'].includes(s.state.state));
});

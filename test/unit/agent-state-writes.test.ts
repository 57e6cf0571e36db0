// The session's message handler saves the manager list and a new root CA in the state dir.
// Before the fix a failed save threw inside the gRPC stream's 'data' handler: an uncaught
// exception, the end of agentd. The failure here is a real one from the file system: the
// state dir's path runs through a regular file (ENOTDIR), and is then made a directory.
import test, { type ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentDeps } from '../../agent/agent.js';
import type { AgentConfig } from '../../agent/config.js';
import { Remotes } from '../../agent/session/remotes.js';
import type { StateDirHealth } from '../../agent/store/index.js';
import type { SessionMessage } from '../../agent/proto/api.js';
import { waitFor } from '../../scripts/lib/exec.js';

interface AgentInternals {
  remotes: Remotes;
  identity: { rootCaPem: string };
  writes: { health(): StateDirHealth; close(): number };
  onSessionMessage(msg: SessionMessage, manager: string): void;
}

function brokenStateDir(t: ExecutionContext): { stateDir: string; mend(): void } {
  const root = mkdtempSync(join(tmpdir(), 'berth-agent-writes-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const blocker = join(root, 'state');
  writeFileSync(blocker, 'not a directory');
  return {
    stateDir: join(blocker, 'dir'),
    mend() {
      rmSync(blocker);
      mkdirSync(join(blocker, 'dir'), { recursive: true });
    },
  };
}

function agentWith(t: ExecutionContext, stateDir: string) {
  const logs: Array<{ level: string; msg: string }> = [];
  const deps = { log: (level: string, msg: string) => void logs.push({ level, msg }), docker: {}, executor: {} } as unknown as AgentDeps;
  const agent = new Agent({ stateDir, managers: [], hostname: 'h' } as unknown as AgentConfig, deps) as unknown as AgentInternals;
  agent.remotes = new Remotes([]);
  t.teardown(() => void agent.writes.close());
  return { agent, logs };
}

function sessionMessage(patch: Partial<SessionMessage>): SessionMessage {
  return { session_id: 's', node: null, managers: [], network_bootstrap_keys: [], RootCA: Buffer.alloc(0), ...patch } as unknown as SessionMessage;
}

test('a manager list the disk refuses does not throw out of the session handler; it is saved once the state dir is writable', async (t) => {
  const dir = brokenStateDir(t);
  const { agent, logs } = agentWith(t, dir.stateDir);
  const msg = sessionMessage({ managers: [{ peer: { node_id: 'm', addr: '10.0.0.1:2377' }, weight: 10000 }] as unknown as SessionMessage['managers'] });
  t.notThrows(() => agent.onSessionMessage(msg, '10.0.0.1:2377'));
  const h = agent.writes.health();
  t.is(h.state, 'degraded');
  t.is(h.pendingWrites, 1);
  t.regex(h.lastError ?? '', /ENOTDIR/);
  t.true(logs.some((l) => l.level === 'error' && /degraded/.test(l.msg)), 'logged');

  dir.mend();
  await waitFor('the manager list saved', async () => agent.writes.health().state === 'ok', 15_000);
  t.deepEqual(JSON.parse(readFileSync(join(dir.stateDir, 'managers.json'), 'utf8')), ['10.0.0.1:2377']);
  t.is(agent.writes.health().pendingWrites, 0);
});

test('a new root CA the disk refuses does not throw out of the session handler; it is saved once the state dir is writable', async (t) => {
  const dir = brokenStateDir(t);
  const { agent } = agentWith(t, dir.stateDir);
  agent.identity = { rootCaPem: 'old root' };
  t.notThrows(() => agent.onSessionMessage(sessionMessage({ RootCA: Buffer.from('new root') }), '10.0.0.1:2377'));
  t.is(agent.writes.health().state, 'degraded');
  dir.mend();
  await waitFor('the root CA saved', async () => agent.writes.health().state === 'ok', 15_000);
  t.is(readFileSync(join(dir.stateDir, 'certificates', 'swarm-root-ca.crt'), 'utf8'), 'new root');
});

// A secret's value must never leave the tmpfs it is written to: not in a log line, not in a
// stored record, not in a status the manager gets (`docker service ps --no-trunc` shows its
// err) or agentctl shows. Broken payload templates are where it leaked: their errors quoted
// the payload. This runs tasks with broken templates through the real worker, task runner,
// Docker controller (up to the payload templates, which come before any engine call), task
// store and status reporter, then greps everything they produced for the values.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { AssignmentsMessage, Config, Secret, Task } from '../../agent/proto/api.js';
import { DockerExecutor } from '../../agent/exec/docker/executor.js';
import { MAX_SECRET_BYTES } from '../../agent/exec/docker/task-files.js';
import { AssignmentAction, AssignmentsType } from '../../agent/proto/enums.js';
import { StatusReporter, type StatusSender } from '../../agent/session/reporter.js';
import type { StatusUpdate } from '../../agent/session/session.js';
import { TaskStore } from '../../agent/store/index.js';
import { TaskState } from '../../agent/worker/task-state.js';
import { Worker } from '../../agent/worker/worker.js';
import { config, configRef, makeTask, secret, secretRef } from './exec-fixture.js';

/** A distinctive string: none of these may appear anywhere the run wrote. */
const leak = (what: string) => `${what}${randomBytes(6).toString('hex')}`;

interface Case {
  why: string;
  secrets: Secret[];
  configs: Config[];
  task: Task;
  /** Strings taken from payloads. */
  sensitive: string[];
  /** Which secret/config the error must name (name and id), and whether it gives a position. */
  names: { name: string; id: string };
  position: boolean;
}

let n = 0;
/** One task with one templated secret (and optionally a config templating it). */
function secretCase(why: string, payload: (v: string, token: string) => string, opts: { templating?: string; big?: boolean } = {}): Case {
  n++;
  const value = leak('secretvalue');
  const token = leak('tok');
  const id = `leaksecret${n}`;
  const name = `leak_${n}`;
  const data = opts.big ? value.repeat(Math.ceil((MAX_SECRET_BYTES + 1) / value.length)) : payload(value, token);
  return {
    why,
    secrets: [secret(id, name, data, opts.templating ?? 'golang')],
    configs: [],
    task: makeTask({ secrets: [secretRef(id, name, 'app_secret')] }),
    sensitive: [value, token],
    names: { name, id },
    position: !opts.big && opts.templating === undefined,
  };
}

/** A config whose template pulls in a secret, then breaks. */
function configCase(why: string, payload: (secretTarget: string, token: string) => string): Case {
  n++;
  const value = leak('secretvalue');
  const token = leak('tok');
  const sid = `leaksecret${n}`;
  const cid = `leakconfig${n}`;
  return {
    why,
    secrets: [secret(sid, `plain_${n}`, value)],
    configs: [config(cid, `leak_cfg_${n}`, payload('db_pass', token), 'golang')],
    task: makeTask({ secrets: [secretRef(sid, `plain_${n}`, 'db_pass')], configs: [configRef(cid, `leak_cfg_${n}`, '/etc/app.conf')] }),
    sensitive: [value, token],
    names: { name: `leak_cfg_${n}`, id: cid },
    position: true,
  };
}

const CASES: Case[] = [
  secretCase('an unclosed action', (v) => `user=admin\npassword=${v}\n{{ .Task.ID`),
  secretCase('an undefined function', (v, tok) => `password=${v}\n{{ ${tok} }}`),
  secretCase('a function named like the value', (v) => `{{ ${v} }}`),
  secretCase('an unknown field', (v, tok) => `${v}{{ .Service.${tok} }}`),
  secretCase('an unsupported escape', (v) => `{{ "${v}\\q" }}`),
  secretCase('an unterminated string', (v) => `{{ "${v} }}`),
  secretCase('an unterminated raw string', (v) => `{{ \`${v} }}`),
  secretCase('an identifier as an argument', (v) => `{{ .Task.ID ${v} }}`),
  secretCase('arguments to a literal', (v, tok) => `{{ "${v}" "${tok}" }}`),
  secretCase('a map printed', (v) => `${v}{{ .Service.Labels }}`),
  secretCase('an unclosed comment', (v) => `{{/* ${v} }}`),
  secretCase('an empty command', (v) => `${v}{{ .Task.ID | }}`),
  secretCase('an unsupported expression', (v) => `{{ .Task.ID $${v} }}`),
  secretCase('a too-large secret', () => '', { big: true }),
  secretCase('an unsupported template driver', (v) => `{{ ${v} }}`, { templating: 'other' }),
  configCase('a secret target that does not exist', (_t, tok) => `{{ secret "${tok}" }}`),
  configCase('a pipeline through an undefined function after a secret', (target, tok) => `{{ secret "${target}" | ${tok} }}`),
  configCase('a secret passed to a function that takes none', (target) => `{{ index (secret "${target}") }}`),
  configCase('a secret as an index key of a non-map', (target) => `{{ index "x" (secret "${target}") }}`),
];

class CapturingSender implements StatusSender {
  readonly closed = false;
  readonly sent: StatusUpdate[] = [];
  async sendStatuses(updates: readonly StatusUpdate[]): Promise<void> {
    this.sent.push(...updates);
  }
}

/** Every file under dir, as bytes. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)));
}

test('no secret or template content reaches a log line, a stored record or a reported status', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-leak-'));
  const logs: string[] = [];
  const log = (level: string, msg: string, fields?: Record<string, unknown>) => logs.push(JSON.stringify({ level, msg, ...fields }));
  const store = TaskStore.open(join(root, 'store'), { fsync: false });
  // Any engine call fails: every case must be decided before the controller reaches the engine.
  const docker = new Proxy(
    {},
    {
      get: () => () => {
        throw new Error('no engine in this test');
      },
    },
  ) as unknown as Docker;
  const executor = new DockerExecutor(docker, { tasksRoot: join(root, 'tasks'), dependencyWaitMs: 0, hostname: 'leak-node', log });
  const reporter = new StatusReporter(store, log);
  const sender = new CapturingSender();
  reporter.setSender(sender);
  const worker = new Worker({ store, executor, onStatus: () => reporter.notify(), log });
  t.teardown(async () => {
    reporter.setSender(undefined);
    await worker.close();
    store.close();
    rmSync(root, { recursive: true, force: true });
  });

  const changes = CASES.flatMap((c) => [
    ...c.secrets.map((s) => ({ assignment: { secret: s }, action: AssignmentAction.UPDATE })),
    ...c.configs.map((cf) => ({ assignment: { config: cf }, action: AssignmentAction.UPDATE })),
    { assignment: { task: c.task }, action: AssignmentAction.UPDATE },
  ]);
  await worker.assign({ type: AssignmentsType.COMPLETE, applies_to: '', results_in: 'v1', changes } as unknown as AssignmentsMessage);

  const deadline = Date.now() + 10_000;
  const views = () => new Map(worker.tasks().map((v) => [v.id, v]));
  while (CASES.some((c) => views().get(c.task.id)?.state !== 'REJECTED') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await reporter.flush();

  const stored = store.list();
  const onDisk = filesUnder(join(root, 'store'));
  const everything = [...logs, JSON.stringify(stored), JSON.stringify(sender.sent), JSON.stringify(worker.tasks())];
  for (const c of CASES) {
    const view = views().get(c.task.id);
    t.is(view?.state, 'REJECTED', c.why);
    const err = view?.err ?? '';
    t.true(err.includes(c.names.name) && err.includes(c.names.id), `${c.why}: the error names ${c.names.name} (${c.names.id}): ${err}`);
    if (c.position) t.regex(err, /line \d+, column \d+/, `${c.why}: the error gives a position`);
    t.is(stored.find((r) => r.id === c.task.id)?.status?.state, TaskState.REJECTED, c.why);
    t.true(sender.sent.some((u) => u.taskId === c.task.id && u.status.err === err), `${c.why}: reported`);
    for (const s of c.sensitive) {
      for (const text of everything) t.false(text.includes(s), `${c.why}: ${s} leaked into ${text.slice(0, 300)}`);
      for (const file of onDisk) t.false(file.includes(s), `${c.why}: ${s} leaked into the store's files`);
    }
  }
});

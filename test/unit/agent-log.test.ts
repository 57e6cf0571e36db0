// agentd's log lines under systemd: a syslog <N> prefix per level when stderr is the journal
// stream (JOURNAL_STREAM names its device and inode), plain JSON anywhere else.
import test from 'ava';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isJournalStream, withSyslogPrefix } from '../../agent/log.js';

test('each pino level gets its syslog priority', (t) => {
  const cases: Array<[number, number]> = [
    [10, 7],
    [20, 7],
    [30, 6],
    [40, 4],
    [50, 3],
    [60, 2],
  ];
  for (const [level, prio] of cases) {
    const line = `{"level":${level},"time":"2026-12-01T10:00:00.000Z","msg":"x"}\n`;
    t.is(withSyslogPrefix(line), `<${prio}>${line}`);
  }
  t.is(withSyslogPrefix('not json\n'), '<6>not json\n', 'a line without a level: info');
});

test('JOURNAL_STREAM matches the fd it names, and nothing else', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = openSync(join(dir, 'a'), 'w');
  const b = openSync(join(dir, 'b'), 'w');
  t.teardown(() => (closeSync(a), closeSync(b)));
  const st = fstatSync(a, { bigint: true });
  const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
  t.true(isJournalStream(env, a));
  t.false(isJournalStream(env, b));
  t.false(isJournalStream({}, a));
  t.false(isJournalStream({ JOURNAL_STREAM: 'garbage' }, a));
});

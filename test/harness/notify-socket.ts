// A NOTIFY_SOCKET as systemd provides one: a unix datagram socket the test binds and reads, so
// a real agentd's sd_notify messages (READY=1, STATUS=, WATCHDOG=1, …) can be checked. Node has
// no unix datagram sockets; python3 (on every machine the suites run on: node-gyp needs it)
// binds it and prints each datagram as a JSON line with the wall-clock time it arrived.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { rm } from 'node:fs/promises';
import { HarnessError, StopWaiting, requireCommand, waitFor } from '../../scripts/lib/exec.js';

const RECEIVER = `
import json, socket, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + path[1:] if path.startswith('@') else path)
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"at": time.time() * 1000, "data": data.decode("utf-8", "replace")}), flush=True)
`;

export interface NotifyMessage {
  /** Wall-clock ms (Date.now()'s clock) when it arrived. */
  at: number;
  raw: string;
  fields: Record<string, string>;
}

export interface NotifySocket {
  /** What to pass as NOTIFY_SOCKET. */
  readonly path: string;
  readonly messages: NotifyMessage[];
  /** Messages that carry this field (e.g. 'READY', 'STATUS', 'WATCHDOG'). */
  with(field: string): NotifyMessage[];
  /** Waits for the first message (from index `from` on) that passes `pred`. */
  waitFor(what: string, pred: (m: NotifyMessage) => boolean, timeoutMs: number, from?: number): Promise<NotifyMessage>;
  close(): Promise<void>;
}

export function parseNotify(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of raw.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Binds `path` (a leading '@': the abstract namespace of the caller's network namespace). */
export async function bindNotifySocket(path: string): Promise<NotifySocket> {
  const python = requireCommand('python3', 'python3');
  const child = spawn(python, ['-u', '-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: NotifyMessage[] = [];
  let bound = false;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line) as { bound?: boolean; at?: number; data?: string };
    if (m.bound) bound = true;
    else if (m.at !== undefined && m.data !== undefined) messages.push({ at: m.at, raw: m.data, fields: parseNotify(m.data) });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    `python3 to bind ${path}`,
    async () => {
      if (gone) throw new StopWaiting(new HarnessError('E_NOTIFY_SOCKET', `binding ${path} failed: ${stderr.trim()}`));
      return bound;
    },
    10_000,
    20,
  );
  return {
    path,
    messages,
    with: (field) => messages.filter((m) => field in m.fields),
    waitFor: (what, pred, timeoutMs, from = 0) => waitFor(what, async () => messages.slice(from).find(pred), timeoutMs, 50),
    async close() {
      child.kill('SIGKILL');
      await exited;
      if (!path.startsWith('@')) await rm(path, { force: true });
    },
  };
}

// The control socket's setup must not disturb what already sits at or around its path: an
// existing directory keeps its mode, a regular file is never removed, a socket another
// process listens on is left serving; only a stale socket (nobody listening) is replaced.
import test from 'ava';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlRequest, startControlServer } from '../../agent/control.js';
import { BerthError } from '../../agent/errors.js';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'berth-ctl-'));
}

/** A plain server on a unix socket, standing in for another agentd. */
async function listenAt(path: string, body = 'other'): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return server;
}

/** A socket file nobody listens on (a crashed agentd's): bound, then its fd closed without unlinking. */
async function staleSocketAt(path: string): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path, () => resolve()));
  const { ino } = lstatSync(path);
  // libuv unlinks the path on close; keep the file by giving it a second name first.
  const keep = `${path}.keep`;
  linkSync(path, keep);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  renameSync(keep, path);
  if (lstatSync(path).ino !== ino || !lstatSync(path).isSocket()) throw new Error('could not leave a stale socket');
}

const handlers = { '/status': () => ({ ok: true }) };

test('serves its handlers and removes its socket on close', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'run', 'agentd.sock');
  const control = await startControlServer(path, handlers);
  t.deepEqual(await controlRequest(path, '/status'), { ok: true });
  t.is(lstatSync(path).mode & 0o777, 0o600);
  // A directory it made is private.
  t.is(statSync(join(dir, 'run')).mode & 0o777, 0o700);
  await control.close();
  t.false(existsSync(path));
});

test('an existing directory keeps its mode', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o1777);
  const control = await startControlServer(join(dir, 'agentd.sock'), handlers);
  t.teardown(() => control.close());
  t.is(statSync(dir).mode & 0o7777, 0o1777);
});

test('a regular file at the path is refused and kept', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'agentd.sock');
  writeFileSync(path, 'not a socket');
  const err = await t.throwsAsync(startControlServer(path, handlers), { instanceOf: BerthError });
  t.is(err?.code, 'E_CONTROL_SOCKET_NOT_SOCKET');
  t.regex(err?.message ?? '', /not a socket/);
  t.is(readFileSync(path, 'utf8'), 'not a socket');
});

test('a directory at the path is refused and kept', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'agentd.sock');
  mkdirSync(path);
  writeFileSync(join(path, 'x'), 'x');
  const err = await t.throwsAsync(startControlServer(path, handlers), { instanceOf: BerthError });
  t.is(err?.code, 'E_CONTROL_SOCKET_NOT_SOCKET');
  t.true(existsSync(join(path, 'x')));
});

test('a socket another process listens on is refused and keeps serving', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'agentd.sock');
  const other = await listenAt(path);
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const { ino } = lstatSync(path);
  const err = await t.throwsAsync(startControlServer(path, handlers), { instanceOf: BerthError });
  t.is(err?.code, 'E_CONTROL_SOCKET_IN_USE');
  t.regex(err?.message ?? '', /another agentd/);
  t.is(lstatSync(path).ino, ino);
  t.is(await controlRequest(path, '/'), 'other');
});

test('a stale socket (nobody listening) is replaced', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'agentd.sock');
  await staleSocketAt(path);
  const control = await startControlServer(path, handlers);
  t.deepEqual(await controlRequest(path, '/status'), { ok: true });
  await control.close();
  t.false(existsSync(path));
});

test('on close, a socket that is no longer its own is left alone', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'agentd.sock');
  const control = await startControlServer(path, handlers);
  // Someone removed ours and serves there now.
  rmSync(path);
  const other = await listenAt(path);
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
  await control.close();
  t.true(existsSync(path));
  t.is(await controlRequest(path, '/'), 'other');
});

test('a handler returning a promise is answered with what it resolves to; a rejection is a 500 naming it', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'agentd.sock');
  const control = await startControlServer(path, {
    '/later': async () => {
      await new Promise((r) => setTimeout(r, 10));
      return { answered: 'later' };
    },
    '/fails': () => Promise.reject(new Error('not ready')),
  });
  t.teardown(() => control.close());
  t.deepEqual(await controlRequest(path, '/later'), { answered: 'later' });
  await t.throwsAsync(controlRequest(path, '/fails'), { message: 'not ready' });
});

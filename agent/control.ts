// The local control API for agentctl: HTTP/JSON on a unix socket that only root can open
// (socket 0600; a directory agentd makes for it is 0700, one that exists is left as it is).
//
// The socket is bound under a private name beside its path and hard-linked into place: link
// fails with EEXIST instead of replacing what another process put there since the check, and
// the socket is already 0600 when it appears. It also keeps libuv from unlinking the public
// path when the server closes (libuv unlinks the name it bound, whatever that name holds by
// then); close removes the path only while it is still this server's socket.
import { chmodSync, linkSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { BerthError, ControlRequestError, ControlSocketError } from './errors.js';

/** A handler's answer sent as it is, not as JSON (the Prometheus text at /metrics). */
export class RawResponse {
  constructor(
    readonly contentType: string,
    readonly body: string,
  ) {}
}

/** One endpoint: the request's query parameters in, JSON (or a RawResponse) out, or a promise of
 *  it. A BerthError thrown (or rejected) answers 400 with its code; anything else 500. */
export type ControlHandler = (query: URLSearchParams) => unknown;
export type ControlHandlers = Record<string, ControlHandler>;

/** How long a socket at the path has to accept a connection to count as served. */
const PROBE_TIMEOUT_MS = 1_000;

export async function startControlServer(socketPath: string, handlers: ControlHandlers): Promise<{ close(): Promise<void> }> {
  const dir = dirname(socketPath);
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
  await removeStaleSocket(socketPath);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agentd');
    const handler = req.method === 'GET' ? handlers[url.pathname] : undefined;
    if (!handler) {
      reply(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}`, code: 'E_NO_ENDPOINT', endpoints: Object.keys(handlers) });
      return;
    }
    void answer(() => handler(url.searchParams), res);
  });
  // Random, so it is nobody's file; short, so it fits the 108-byte socket path limit about
  // wherever the public one does.
  const privatePath = join(dir, `.${randomBytes(4).toString('hex')}`);
  const oldUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(privatePath, () => resolve());
    });
  } finally {
    process.umask(oldUmask);
  }
  let ours: { dev: number; ino: number };
  try {
    chmodSync(privatePath, 0o600);
    linkSync(privatePath, socketPath);
    ours = lstatSync(socketPath);
  } catch (err) {
    await closeServer(server);
    throw (err as NodeJS.ErrnoException).code === 'EEXIST'
      ? new ControlSocketError('E_CONTROL_SOCKET_IN_USE', `${socketPath} appeared while agentd was starting its control socket (another agentd?); not replacing it`, { cause: err })
      : err;
  } finally {
    unlinkQuietly(privatePath);
  }
  return {
    async close() {
      // Before the server stops listening: until then nobody else takes a socket at the path as stale.
      const now = lstatOrUndefined(socketPath);
      if (now && now.dev === ours.dev && now.ino === ours.ino) unlinkQuietly(socketPath);
      await closeServer(server);
    },
  };
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Sends the handler's value (JSON, or a RawResponse as it is); a BerthError thrown or rejected is
 *  a 400 with its code, anything else a 500 naming the error. */
export async function answer(handler: () => unknown, res: http.ServerResponse): Promise<void> {
  try {
    const value = await handler();
    if (value instanceof RawResponse) res.writeHead(200, { 'content-type': value.contentType }).end(value.body);
    else reply(res, 200, value);
  } catch (err) {
    if (err instanceof BerthError) reply(res, 400, { error: err.message, code: err.code });
    else reply(res, 500, { error: (err as Error).message });
  }
}

/**
 * Clears the way for the socket: nothing there, or a socket nobody listens on (a crashed
 * agentd's), which is removed. Refuses a socket something answers on and anything not a socket.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  const st = lstatOrUndefined(socketPath);
  if (!st) return;
  if (!st.isSocket()) {
    throw new ControlSocketError('E_CONTROL_SOCKET_NOT_SOCKET', `${socketPath} exists and is not a socket; not removing it: pass another --control-socket or remove it yourself`);
  }
  const answer = await new Promise<'listening' | 'stale' | NodeJS.ErrnoException>((resolve) => {
    const conn = net.connect(socketPath);
    const timer = setTimeout(() => {
      conn.destroy();
      resolve('listening'); // accepted into a full backlog, or hung: someone holds it
    }, PROBE_TIMEOUT_MS);
    conn.once('connect', () => {
      clearTimeout(timer);
      conn.destroy();
      resolve('listening');
    });
    conn.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' ? 'stale' : err.code === 'ENOENT' ? 'stale' : err);
    });
  });
  if (answer === 'listening') {
    throw new ControlSocketError('E_CONTROL_SOCKET_IN_USE', `another process listens on ${socketPath} (another agentd?); stop it, or pass another --control-socket`);
  }
  if (answer !== 'stale') throw new ControlSocketError('E_CONTROL_SOCKET', `cannot tell whether ${socketPath} is in use: ${answer.message}`, { cause: answer });
  unlinkQuietly(socketPath);
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * GET `path` (with its query) from agentd's control socket. Rejects with a ControlRequestError:
 * E_AGENTD_NOT_RUNNING (no socket, or nobody listening), E_CONTROL_DENIED (not root), or the
 * code agentd answered with.
 */
export function controlRequest(socketPath: string, path: string, timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as unknown;
          if ((res.statusCode ?? 500) >= 400) {
            const e = parsed as { error?: string; code?: string };
            reject(new ControlRequestError(e.code ?? 'E_CONTROL_FAILED', e.error ?? `HTTP ${res.statusCode}`));
          } else resolve(parsed);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new ControlRequestError('E_CONTROL_TIMEOUT', `no answer from ${socketPath} within ${timeoutMs} ms (agentd stalled? see journalctl -u agentd)`, { temporary: true })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ControlRequestError) reject(err);
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new ControlRequestError('E_AGENTD_NOT_RUNNING', `agentd is not running (no control socket at ${socketPath})`, { cause: err }));
      else if (err.code === 'EACCES') reject(new ControlRequestError('E_CONTROL_DENIED', `permission denied on ${socketPath}: agentctl must run as root`, { cause: err }));
      else reject(new ControlRequestError('E_CONTROL_FAILED', `talking to agentd at ${socketPath} failed: ${err.message}`, { cause: err }));
    });
  });
}

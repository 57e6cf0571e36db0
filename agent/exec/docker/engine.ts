// Small helpers over dockerode: status-code checks, engine errors as TaskErrors, container
// events as an async iterable.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { TaskError } from '../executor.js';

interface EngineErrorLike {
  statusCode?: number;
  message?: string;
  json?: { message?: string };
}

export function isStatus(err: unknown, code: number): boolean {
  return (err as EngineErrorLike | undefined)?.statusCode === code;
}

export function isAbort(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | undefined;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR';
}

/** The engine's own message (dockerode wraps it as "(HTTP code 400) ... - <message>"). */
export function engineMessage(err: unknown): string {
  const e = err as EngineErrorLike;
  return (e.json?.message ?? e.message ?? String(err)).trim();
}

/** Engine failures are temporary (worth retrying: engine down, 5xx) unless the engine said the
 *  request itself was wrong (4xx). */
export function engineError(err: unknown, what: string, temporary?: boolean): TaskError {
  if (err instanceof TaskError) return err;
  const status = (err as EngineErrorLike | undefined)?.statusCode;
  const isTemporary = temporary ?? (status === undefined || status >= 500);
  return new TaskError('E_ENGINE', `${what}: ${engineMessage(err)}`, { temporary: isTemporary, cause: err });
}

export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
  timeNano: number;
}

/** Splits a stream of newline-delimited JSON into objects. */
async function* jsonLines<T>(stream: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let buf = '';
  for await (const chunk of stream) {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
  if (buf.trim()) yield JSON.parse(buf) as T;
}

export interface EventFilter {
  container?: string[];
  event?: string[];
  label?: string[];
}

/**
 * Runs `fn` when `signal` aborts, or at once if it already has (an abort that came before the
 * listener fires no event: a wait on a running container would then never return). Returns what
 * stops following.
 */
export function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * Subscribes to container events matching `filters` and resolves once the engine answered.
 * The engine answers before it has subscribed the request (moby's events handler flushes the
 * headers first), so an event right after this resolves can still be lost: a caller that must
 * not miss a change looks at the container again now and then too. The iterable ends (or
 * throws) if the engine goes away, and ends quietly when `signal` aborts.
 */
export async function containerEvents(docker: Docker, filters: EventFilter, signal: AbortSignal): Promise<AsyncIterable<EngineEvent>> {
  const opts = { filters: { type: ['container'], ...filters }, abortSignal: signal };
  const stream = (await docker.getEvents(opts as Docker.GetEventsOptions)) as unknown as Readable;
  const stopFollowing = whenAborted(signal, () => stream.destroy());
  return (async function* () {
    try {
      for await (const ev of jsonLines<EngineEvent>(stream)) yield ev;
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      stopFollowing();
      stream.destroy();
    }
  })();
}

/**
 * The engine's wait on a container (`POST /containers/{id}/wait`), read here rather than through
 * dockerode: its answer (headers at once, the body at the exit) dies with the engine, and
 * docker-modem then neither resolves nor rejects — a task whose engine was killed stayed RUNNING
 * forever after its container died. A connection that ends before the body is an error without
 * a status code (temporary: the caller inspects again once the engine answers).
 */
/** An Error (a DOMException is not one) that isAbort() recognises, as dockerode's own aborts. */
function abortError(): Error {
  return Object.assign(new Error('the wait was aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}

export async function waitForExit(docker: Docker, id: string, signal: AbortSignal): Promise<{ StatusCode: number }> {
  const res = await new Promise<Readable>((resolve, reject) =>
    docker.modem.dial(
      {
        path: `/containers/${encodeURIComponent(id)}/wait?`,
        method: 'POST',
        isStream: true,
        abortSignal: signal,
        statusCodes: { 200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' },
        options: {},
      } as never,
      (err: unknown, stream: unknown) => (err ? reject(err as Error) : resolve(stream as Readable)),
    ),
  );
  return new Promise((resolve, reject) => {
    let body = '';
    let ended = false;
    const stopFollowing = whenAborted(signal, () => res.destroy(abortError()));
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => {
      ended = true;
      stopFollowing();
      try {
        resolve(JSON.parse(body) as { StatusCode: number });
      } catch (err) {
        reject(err as Error);
      }
    });
    res.on('error', (err) => {
      stopFollowing();
      reject(err);
    });
    res.on('close', () => {
      stopFollowing();
      if (!ended) reject(signal.aborted ? abortError() : new Error('the engine closed the connection while waiting for the container to exit'));
    });
  });
}

/**
 * Image inspects shared while one is in flight: a burst of tasks on one image asks the engine
 * once, not once per task. Nothing is kept after the answer, so an image removed or replaced
 * since is seen by the next inspect.
 */
export class ImageInspects {
  private readonly inflight = new Map<string, Promise<Docker.ImageInspectInfo>>();

  constructor(private readonly docker: Docker) {}

  inspect(image: string): Promise<Docker.ImageInspectInfo> {
    let p = this.inflight.get(image);
    if (!p) {
      p = this.docker.getImage(image).inspect();
      this.inflight.set(image, p);
      const forget = () => this.inflight.delete(image);
      p.then(forget, forget);
    }
    return p;
  }
}

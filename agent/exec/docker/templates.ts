// Swarm service templates (`docker service create --hostname '{{.Node.Hostname}}-{{.Task.Slot}}'`):
// the worker expands them in env values, the hostname and mount fields before it creates the
// container. This is the subset of Go's text/template that those fields use in practice —
// field paths on the context, `index` on label maps, and the upper/lower/title functions, as
// a command or at the end of a pipeline. Anything else is an error, never a literal "{{...}}"
// passed on to the container.
//
// The same code expands the payloads of templated secrets and configs, so an error never
// quotes the template or any part of it (a field or function name, a string literal, an
// action): it gives a position and a reason, and the caller names what it was expanding.
import { BerthError } from '../../../base/index.js';

export interface TemplateContext {
  Service: { ID: string; Name: string; Labels: Record<string, string> };
  Node: { ID: string; Hostname: string; Platform: { Architecture: string; OS: string } };
  Task: { ID: string; Name: string; Slot: string };
}

/** Where in a template: 1-based line and column (in characters), and the UTF-8 byte offset. */
export interface TemplatePosition {
  line: number;
  column: number;
  byteOffset: number;
}

/**
 * A template this subset cannot expand; never worth retrying. The message is the position and
 * a reason that quotes nothing of the template; `reason` alone is the latter.
 */
export class TemplateError extends BerthError {
  declare readonly code: 'E_TEMPLATE';
  constructor(
    readonly reason: string,
    readonly position?: TemplatePosition,
  ) {
    super('E_TEMPLATE', position ? `line ${position.line}, column ${position.column}: ${reason}` : reason);
  }
}

/** A fault inside one action, at an offset into the action's text when known. */
class ActionFault extends Error {
  constructor(
    readonly reason: string,
    readonly at?: number,
  ) {
    super(reason);
  }
}

function positionOf(s: string, offset: number): TemplatePosition {
  const before = s.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return {
    line: before.split('\n').length,
    column: [...before.slice(lineStart)].length + 1,
    byteOffset: Buffer.byteLength(before, 'utf8'),
  };
}

type Value = string | Record<string, unknown>;
type Fn = (args: Value[]) => string;

function str(v: Value, what: string): string {
  if (typeof v !== 'string') throw new ActionFault(`${what} is not a string`);
  return v;
}

function title(s: string): string {
  // Go's strings.Title: upper-case the first letter of every word.
  return s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

const BASE_FUNCTIONS: Record<string, Fn> = {
  upper: (a) => str(one(a, 'upper'), 'upper argument').toUpperCase(),
  lower: (a) => str(one(a, 'lower'), 'lower argument').toLowerCase(),
  title: (a) => title(str(one(a, 'title'), 'title argument')),
  index: (a) => {
    if (a.length !== 2) throw new ActionFault(`index takes a map and a key, got ${a.length} arguments`);
    const [m, k] = a as [Value, Value];
    if (typeof m !== 'object') throw new ActionFault('index of a non-map');
    const v = m[str(k, 'index key')];
    return typeof v === 'string' ? v : '';
  },
};

function one(args: Value[], fn: string): Value {
  if (args.length !== 1) throw new ActionFault(`${fn} takes one argument, got ${args.length}`);
  return args[0]!;
}

/** `at`: offset of the token in the action's text. */
type Token = ({ kind: 'field'; path: string[] } | { kind: 'string'; value: string } | { kind: 'ident'; name: string } | { kind: 'pipe' }) & { at: number };

function tokenize(action: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < action.length) {
    const c = action[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      tokens.push({ kind: 'pipe', at: i });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let value = '';
      while (j < action.length && action[j] !== '"') {
        if (action[j] === '\\') {
          const e = action[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"' };
          if (e === undefined || map[e] === undefined) throw new ActionFault('unsupported escape in a string', j);
          value += map[e];
          j += 2;
        } else {
          value += action[j];
          j++;
        }
      }
      if (j >= action.length) throw new ActionFault('unterminated string', i);
      tokens.push({ kind: 'string', value, at: i });
      i = j + 1;
    } else if (c === '`') {
      const j = action.indexOf('`', i + 1);
      if (j < 0) throw new ActionFault('unterminated raw string', i);
      tokens.push({ kind: 'string', value: action.slice(i + 1, j), at: i });
      i = j + 1;
    } else if (c === '.') {
      const m = /^(\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(action.slice(i));
      if (!m) throw new ActionFault('unsupported expression', i);
      tokens.push({ kind: 'field', path: m[0].slice(1).split('.'), at: i });
      i += m[0].length;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(action.slice(i));
      if (!m) throw new ActionFault('unsupported expression', i);
      tokens.push({ kind: 'ident', name: m[0], at: i });
      i += m[0].length;
    }
  }
  return tokens;
}

/** `at`: offset of the field's first '.' in the action, so a fault points at the missing name. */
function lookup(ctx: unknown, path: string[], at: number): Value {
  let v: unknown = ctx;
  let offset = at;
  for (const [n, key] of path.entries()) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) {
      throw new ActionFault(n === 0 ? 'no such field in the template context' : `no such field in the value of the ${n === 1 ? 'field' : 'fields'} before it`, offset);
    }
    offset += key.length + 1;
    v = (v as Record<string, unknown>)[key];
  }
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object') return v as Record<string, unknown>;
  return String(v);
}

function evaluate(action: string, ctx: unknown, fns: Record<string, Fn>): string {
  const tokens = tokenize(action);
  const commands: Token[][] = [[]];
  for (const t of tokens) {
    if (t.kind === 'pipe') commands.push([]);
    else commands[commands.length - 1]!.push(t);
  }
  let piped: Value | undefined;
  for (const cmd of commands) {
    if (cmd.length === 0) throw new ActionFault('empty command in a pipeline', tokens.find((t) => t.kind === 'pipe')?.at);
    const [head, ...rest] = cmd as [Token, ...Token[]];
    const args = rest.map((t): Value => {
      if (t.kind === 'field') return lookup(ctx, t.path, t.at);
      if (t.kind === 'string') return t.value;
      throw new ActionFault(t.kind === 'ident' ? 'a function name is not an argument (only fields and strings are)' : 'unsupported argument', t.at);
    });
    if (piped !== undefined) args.push(piped);
    if (head.kind === 'ident') {
      const fn = fns[head.name];
      if (!fn) throw new ActionFault('function not defined', head.at);
      try {
        piped = fn(args);
      } catch (err) {
        if (err instanceof ActionFault && err.at === undefined) throw new ActionFault(err.reason, head.at);
        if (err instanceof TemplateError && !err.position) throw new ActionFault(err.reason, head.at);
        throw err;
      }
    } else {
      if (args.length > 0) throw new ActionFault("can't give arguments to a value", head.at);
      piped = head.kind === 'field' ? lookup(ctx, head.path, head.at) : (head as { value: string }).value;
    }
  }
  if (typeof piped !== 'string') throw new ActionFault('a map, not a printable value');
  return piped;
}

/**
 * Expands `s` against `ctx`. Strings without "{{" are returned as they are. `extra` adds
 * functions taking string arguments (the payload templates of configs use `secret`, `config`
 * and `env`).
 */
export function expandTemplate(s: string, ctx: TemplateContext, extra: Record<string, (...args: string[]) => string> = {}): string {
  if (!s.includes('{{')) return s;
  const fns: Record<string, Fn> = { ...BASE_FUNCTIONS };
  for (const [name, f] of Object.entries(extra)) fns[name] = (args) => f(...args.map((a) => str(a, `${name} argument`)));
  let out = '';
  let i = 0;
  while (i < s.length) {
    const open = s.indexOf('{{', i);
    if (open < 0) {
      out += s.slice(i);
      break;
    }
    let text = s.slice(i, open);
    let start = open + 2;
    if (s.startsWith('- ', start) || s.startsWith('-\t', start) || s.startsWith('-\n', start)) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    out += text;
    const close = s.indexOf('}}', start);
    if (close < 0) throw new TemplateError('unclosed action', positionOf(s, open));
    let body = s.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(s.slice(next));
      next += m ? m[0].length : 0;
    }
    if (body.trim().startsWith('/*')) {
      if (!body.trim().endsWith('*/')) throw new TemplateError('unclosed comment', positionOf(s, open));
    } else {
      try {
        out += evaluate(body, ctx, fns);
      } catch (err) {
        if (err instanceof ActionFault) throw new TemplateError(err.reason, positionOf(s, err.at === undefined ? open : start + err.at));
        if (err instanceof TemplateError && !err.position) throw new TemplateError(err.reason, positionOf(s, open));
        throw err;
      }
    }
    i = next;
  }
  return out;
}

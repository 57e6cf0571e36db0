// Swarm service templates (`docker service create --hostname '{{.Node.Hostname}}-{{.Task.Slot}}'`):
// the worker expands them in env values, the hostname and mount fields before it creates the
// container. This is the subset of Go's text/template that those fields use in practice —
// field paths on the context, `index` on label maps, and the upper/lower/title functions, as
// a command or at the end of a pipeline. Anything else is an error naming the template, never
// a literal "{{...}}" passed on to the container.
import { BerthError } from '../../../base/index.js';

export interface TemplateContext {
  Service: { ID: string; Name: string; Labels: Record<string, string> };
  Node: { ID: string; Hostname: string; Platform: { Architecture: string; OS: string } };
  Task: { ID: string; Name: string; Slot: string };
}

/** A template this subset cannot expand; never worth retrying. */
export class TemplateError extends BerthError {
  declare readonly code: 'E_TEMPLATE';
  constructor(message: string) {
    super('E_TEMPLATE', message);
  }
}

type Value = string | Record<string, unknown>;
type Fn = (args: Value[]) => string;

function str(v: Value, what: string): string {
  if (typeof v !== 'string') throw new TemplateError(`${what} is not a string`);
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
    if (a.length !== 2) throw new TemplateError(`index takes a map and a key, got ${a.length} arguments`);
    const [m, k] = a as [Value, Value];
    if (typeof m !== 'object') throw new TemplateError('index of a non-map');
    const v = m[str(k, 'index key')];
    return typeof v === 'string' ? v : '';
  },
};

function one(args: Value[], fn: string): Value {
  if (args.length !== 1) throw new TemplateError(`${fn} takes one argument, got ${args.length}`);
  return args[0]!;
}

type Token = { kind: 'field'; path: string[] } | { kind: 'string'; value: string } | { kind: 'ident'; name: string } | { kind: 'pipe' };

function tokenize(action: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < action.length) {
    const c = action[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '|') {
      tokens.push({ kind: 'pipe' });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let value = '';
      while (j < action.length && action[j] !== '"') {
        if (action[j] === '\\') {
          const e = action[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', '\\': '\\', '"': '"' };
          if (e === undefined || map[e] === undefined) throw new TemplateError(`unsupported escape in ${JSON.stringify(action)}`);
          value += map[e];
          j += 2;
        } else {
          value += action[j];
          j++;
        }
      }
      if (j >= action.length) throw new TemplateError(`unterminated string in ${JSON.stringify(action)}`);
      tokens.push({ kind: 'string', value });
      i = j + 1;
    } else if (c === '`') {
      const j = action.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError(`unterminated raw string in ${JSON.stringify(action)}`);
      tokens.push({ kind: 'string', value: action.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '.') {
      const m = /^(\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(action.slice(i));
      if (!m) throw new TemplateError(`unsupported expression ${JSON.stringify(action.trim())}`);
      tokens.push({ kind: 'field', path: m[0].slice(1).split('.') });
      i += m[0].length;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(action.slice(i));
      if (!m) throw new TemplateError(`unsupported expression ${JSON.stringify(action.trim())}`);
      tokens.push({ kind: 'ident', name: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

function lookup(ctx: unknown, path: string[]): Value {
  let v: unknown = ctx;
  for (const [n, key] of path.entries()) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) {
      throw new TemplateError(`can't evaluate field ${key} in .${path.slice(0, n).join('.')}`);
    }
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
    if (cmd.length === 0) throw new TemplateError(`empty command in ${JSON.stringify(action.trim())}`);
    const [head, ...rest] = cmd as [Token, ...Token[]];
    const args = rest.map((t): Value => {
      if (t.kind === 'field') return lookup(ctx, t.path);
      if (t.kind === 'string') return t.value;
      throw new TemplateError(`unsupported argument ${t.kind === 'ident' ? t.name : '|'} in ${JSON.stringify(action.trim())}`);
    });
    if (piped !== undefined) args.push(piped);
    if (head.kind === 'ident') {
      const fn = fns[head.name];
      if (!fn) throw new TemplateError(`function "${head.name}" not defined`);
      piped = fn(args);
    } else {
      if (args.length > 0) throw new TemplateError(`${JSON.stringify(action.trim())}: can't give arguments to a value`);
      piped = head.kind === 'field' ? lookup(ctx, head.path) : (head as { value: string }).value;
    }
  }
  if (typeof piped !== 'string') throw new TemplateError(`${JSON.stringify(action.trim())} is a map, not a printable value`);
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
    if (close < 0) throw new TemplateError(`unclosed action in ${JSON.stringify(s)}`);
    let body = s.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(s.slice(next));
      next += m ? m[0].length : 0;
    }
    if (body.trim().startsWith('/*')) {
      if (!body.trim().endsWith('*/')) throw new TemplateError(`unclosed comment in ${JSON.stringify(s)}`);
    } else {
      out += evaluate(body, ctx, fns);
    }
    i = next;
  }
  return out;
}

// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every
// line must be a HELP, a TYPE, a comment or a well-formed sample; every sample must belong to
// a family that declared HELP and TYPE before it (histogram and summary samples by their
// suffixes); a histogram's buckets must carry `le`, end with +Inf and equal its _count there.
// Any violation throws, naming the line.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+(-?\\d+))?$`);
const LABEL_RE = new RegExp(`^(${LABEL_NAME})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`);

export class PromTextError extends Error {}

/** As Go's strconv.ParseFloat reads it (the format's rule): NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(text: string, line: string): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(text);
  if (special) return special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new PromTextError(`bad sample value "${text}" in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = LABEL_RE.exec(rest);
    if (!m) throw new PromTextError(`bad label set in: ${line}`);
    const [whole, name, raw] = m;
    if (name! in labels) throw new PromTextError(`label ${name} twice in: ${line}`);
    labels[name!] = raw!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
    if (rest.startsWith(',')) rest = rest.slice(1);
    else if (rest.length > 0) throw new PromTextError(`bad label separator in: ${line}`);
  }
  return labels;
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const exact = families.get(name);
  if (exact) return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

export function parsePromText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const declared = new Map<string, { help?: string; type?: string }>();
  if (!text.endsWith('\n')) throw new PromTextError('the exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m;
      const d = declared.get(name!) ?? {};
      if (kind === 'HELP') {
        if (d.help !== undefined) throw new PromTextError(`HELP for ${name} twice`);
        if (rest!.trim() === '') throw new PromTextError(`empty HELP for ${name}`);
        d.help = rest!;
      } else {
        if (d.type !== undefined) throw new PromTextError(`TYPE for ${name} twice`);
        if (!TYPES.has(rest!)) throw new PromTextError(`unknown TYPE "${rest}" for ${name}`);
        if (families.has(name!)) throw new PromTextError(`TYPE for ${name} after its samples`);
        d.type = rest!;
      }
      declared.set(name!, d);
      if (d.help !== undefined && d.type !== undefined) families.set(name!, { name: name!, type: d.type, help: d.help, samples: [] });
      continue;
    }
    const m = SAMPLE_RE.exec(line);
    if (!m) throw new PromTextError(`not a sample line: ${line}`);
    const [, name, labelText, valueText] = m;
    const family = familyOf(name!, families);
    if (!family) throw new PromTextError(`sample ${name} without a HELP and TYPE before it`);
    const sample = { name: name!, labels: parseLabels(labelText ?? '', line), value: parseValue(valueText!, line) };
    if (family.type === 'histogram' && name!.endsWith('_bucket') && sample.labels.le === undefined) throw new PromTextError(`bucket without le: ${line}`);
    family.samples.push(sample);
  }
  for (const [name, d] of declared) {
    if (d.help === undefined || d.type === undefined) throw new PromTextError(`${name} has ${d.help === undefined ? 'no HELP' : 'no TYPE'}`);
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: PromFamily): void {
  const series = new Map<string, { inf?: number; count?: number }>();
  const key = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const s of f.samples) {
    const e = series.get(key(s.labels)) ?? {};
    if (s.name.endsWith('_bucket') && s.labels.le === '+Inf') e.inf = s.value;
    if (s.name.endsWith('_count')) e.count = s.value;
    series.set(key(s.labels), e);
  }
  for (const [labels, e] of series) {
    if (e.inf === undefined || e.count === undefined || e.inf !== e.count) throw new PromTextError(`histogram ${f.name}${labels}: +Inf bucket ${e.inf} and _count ${e.count} must agree`);
  }
}

/** The value of one sample: the family's sample whose labels include `labels`; throws if none or several match. */
export function sampleValue(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = familyOf(name, families);
  if (!family) throw new PromTextError(`no family for ${name}`);
  const hits = family.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new PromTextError(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hits[0]!.value;
}

import test from 'ava';
import { expandTemplate, TemplateError, type TemplateContext } from '../../agent/exec/docker/templates.js';

const CTX: TemplateContext = {
  Service: { ID: 'svc1', Name: 'web', Labels: { tier: 'front', 'com.example.team': 'ops' } },
  Node: { ID: 'node1', Hostname: 'berth-1', Platform: { Architecture: 'x86_64', OS: 'linux' } },
  Task: { ID: 'task1', Name: 'web.1.task1', Slot: '1' },
};

for (const [input, want] of [
  ['plain', 'plain'],
  ['{{.Service.Name}}', 'web'],
  ['{{ .Node.Hostname }}-{{.Task.Slot}}', 'berth-1-1'],
  ['{{.Node.Platform.OS}}/{{.Node.Platform.Architecture}}', 'linux/x86_64'],
  ['{{index .Service.Labels "tier"}}', 'front'],
  ['{{index .Service.Labels "com.example.team"}}', 'ops'],
  ['{{index .Service.Labels "missing"}}', ''],
  ['{{.Service.Name | upper}}', 'WEB'],
  ['{{upper .Service.Name}}', 'WEB'],
  ['{{lower "ABC"}}', 'abc'],
  ['{{title "hello world"}}', 'Hello World'],
  ['{{index .Service.Labels `tier` | upper}}', 'FRONT'],
  ['a  {{- .Task.ID -}}  b', 'atask1b'],
  ['x{{/* a comment */}}y', 'xy'],
  ['{{"lit"}}', 'lit'],
] as const) {
  test(`expands ${JSON.stringify(input)}`, (t) => t.is(expandTemplate(input, CTX), want));
}

for (const bad of ['{{.Nope}}', '{{.Service.Nope}}', '{{.Service.Labels}}', '{{printf "%s" .Task.ID}}', '{{.Task.ID', '{{}}', '{{upper}}', '{{"unterminated}}', '{{.Task.ID "arg"}}', '{{if .Task.ID}}x{{end}}']) {
  test(`refuses ${JSON.stringify(bad)}`, (t) => {
    t.throws(() => expandTemplate(bad, CTX), { instanceOf: TemplateError });
  });
}

test('extra functions take string arguments', (t) => {
  t.is(expandTemplate('pw={{secret "db"}} {{env "HOME"}}', CTX, { secret: (n) => `<${n}>`, env: (n) => n.toLowerCase() }), 'pw=<db> home');
});

// Payload templates of secrets and configs go through the same code: an error gives a
// position and a reason, never any text of the template.
for (const [input, line, column, reason] of [
  ['{{.Nope}}', 1, 3, /no such field/],
  ['{{ .Service.Nope }}', 1, 12, /no such field/],
  ['a\nb{{ .Service.Labels }}', 2, 2, /not a printable value/],
  ['x {{ nopefn .Task.ID }}', 1, 6, /function not defined/],
  ['{{ "abc\\q" }}', 1, 8, /unsupported escape/],
  ['line1\n  {{ "open }}', 2, 6, /unterminated string/],
  ['first\nsecond {{ .Task.ID', 2, 8, /unclosed action/],
  ['{{/* c }}', 1, 1, /unclosed comment/],
  ['{{ .Task.ID nopeident }}', 1, 13, /not an argument/],
  ['{{ "lit" "arg" }}', 1, 4, /can't give arguments/],
  ['{{ .Task.ID | }}', 1, 13, /empty command/],
  ['{{ upper }}', 1, 4, /upper takes one argument/],
  ['é{{ .Nope }}', 1, 5, /no such field/],
] as const) {
  test(`error position for ${JSON.stringify(input)}`, (t) => {
    const err = t.throws(() => expandTemplate(input, CTX), { instanceOf: TemplateError })!;
    t.like(err.position, { line, column });
    t.regex(err.reason, reason);
    t.is(err.message, `line ${line}, column ${column}: ${err.reason}`);
  });
}

test('the byte offset counts UTF-8 bytes', (t) => {
  const err = t.throws(() => expandTemplate('é{{ .Nope }}', CTX), { instanceOf: TemplateError })!;
  t.is(err.position?.byteOffset, 5);
});

test('no error quotes any text of the template', (t) => {
  const canary = 'Zq9canary';
  for (const input of [
    `pw=${canary} {{ .Task.ID`,
    `{{ ${canary} }}`,
    `{{ .Service.${canary} }}`,
    `{{ .${canary} }}`,
    `{{ "${canary}\\q" }}`,
    `{{ "${canary} }}`,
    `{{ \`${canary} }}`,
    `{{ .Task.ID ${canary} }}`,
    `{{ "${canary}" "x" }}`,
    `{{/* ${canary} }}`,
    `${canary}{{ .Service.Labels }}`,
    `{{ .Task.ID $${canary} }}`,
    `{{ .Task.ID | ${canary} }}`,
    `{{ secret "${canary}" }}`,
    `{{ index "${canary}" "k" }}`,
  ]) {
    const err = t.throws(
      () =>
        expandTemplate(input, CTX, {
          secret: () => {
            throw new TemplateError('no secret of this task has that target');
          },
        }),
      { instanceOf: TemplateError },
    )!;
    t.false(err.message.includes(canary), `${input} → ${err.message}`);
    t.truthy(err.position, input);
  }
});

test('an extra function that fails is placed at its name', (t) => {
  const err = t.throws(() => expandTemplate('ab\n{{ secret "x" }}', CTX, { secret: () => { throw new TemplateError('unavailable'); } }), { instanceOf: TemplateError })!;
  t.like(err.position, { line: 2, column: 4 });
  t.is(err.reason, 'unavailable');
});

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

// The suites run on the Node the project pins (scripts/node.pin) and ships in its package:
// `npm test`, `npm run test:*` and .ci/run put it first on PATH (scripts/node-env.sh).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';

function pinnedNode(): string {
  const pin = readFileSync(join(PROJECT_ROOT, 'scripts', 'node.pin'), 'utf8');
  const m = /^NODE_VERSION=(\d+\.\d+\.\d+)$/m.exec(pin);
  if (!m?.[1]) throw new Error('scripts/node.pin has no NODE_VERSION=x.y.z line');
  return m[1];
}

test('this suite runs on the pinned Node 22 LTS (node --version inside a test run)', (t) => {
  const pinned = pinnedNode();
  t.log(`node ${process.version} (${process.execPath}), pinned ${pinned}`);
  t.is(pinned.split('.')[0], '22', 'the pin is Node 22 LTS');
  t.is(process.versions.node, pinned, 'run the suites through npm run test:* (or `. scripts/node-env.sh` first)');
});

test("package.json's engines admit the pinned Node and no Node before 22.12", (t) => {
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } };
  t.is(pkg.engines?.node, '>=22.12');
  const [major, minor] = pinnedNode().split('.').map(Number) as [number, number];
  t.true(major > 22 || (major === 22 && minor >= 12));
});

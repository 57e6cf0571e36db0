import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DESCRIPTOR_FILE, parseSwarmApiProtos } from '../../agent/proto/descriptor.js';
import { swarmApi } from '../../agent/proto/index.js';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';

const PROTO_DIR = join(PROJECT_ROOT, 'agent', 'proto');

test('the checked-in SwarmKit descriptor is what the .proto files say (run `npm run gen:proto` after editing them)', (t) => {
  const checkedIn = JSON.parse(readFileSync(join(PROTO_DIR, DESCRIPTOR_FILE), 'utf8')) as object;
  t.deepEqual(checkedIn, JSON.parse(JSON.stringify(parseSwarmApiProtos(PROTO_DIR))) as object);
});

test('services loaded from the descriptor encode and decode as the .proto files define them', (t) => {
  const api = swarmApi();
  const session = api.Dispatcher.service.Session;
  t.is(session.path, '/docker.swarmkit.v1.Dispatcher/Session');
  t.true(session.responseStream);
  const req = { description: { hostname: 'h', resources: { nano_cpus: '2000000000', memory_bytes: '1024', generic: [] } }, session_id: '' };
  const bytes = session.requestSerialize(req as never);
  const back = session.requestDeserialize(bytes) as { description: { hostname: string; resources: { nano_cpus: string } } };
  t.is(back.description.hostname, 'h');
  t.is(back.description.resources.nano_cpus, '2000000000', 'int64 as a string (longs: String)');
  t.is(typeof api.NodeCA, 'function');
  t.is(typeof api.LogBroker, 'function');
});

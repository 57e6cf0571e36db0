// `npm run gen:proto` (last step): writes agent/proto/swarm-api.json from the .proto files.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DESCRIPTOR_FILE, parseSwarmApiProtos } from '../agent/proto/descriptor.js';
import { PROJECT_ROOT } from './lib/images.js';

const dir = join(PROJECT_ROOT, 'agent', 'proto');
writeFileSync(join(dir, DESCRIPTOR_FILE), `${JSON.stringify(parseSwarmApiProtos(dir))}\n`);

// Loads berth's SwarmKit-compatible .proto files into grpc-js service constructors.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LayoutError } from '../errors.js';
import type { ProtoGrpcType as CaProto } from './gen/ca.js';
import type { ProtoGrpcType as DispatcherProto } from './gen/dispatcher.js';
import type { ProtoGrpcType as LogBrokerProto } from './gen/logbroker.js';

const PROTO_FILES = ['ca.proto', 'dispatcher.proto', 'logbroker.proto'] as const;

/** The options the generated types in gen/ were produced with; keep them in step. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  defaults: true,
  oneofs: true,
};

// Beside this module, in the source tree and in the built layout alike (scripts/build.sh copies
// them into dist/): an installed agentd reads nothing from a source tree.
function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'ca.proto'))) return here;
  throw new LayoutError(`berth's .proto files are missing from ${here}: rebuild with \`npm run build\` (a package install: reinstall the berth package)`);
}

export type SwarmApi = (CaProto & DispatcherProto & LogBrokerProto)['docker']['swarmkit']['v1'];

let cached: SwarmApi | undefined;

export function swarmApi(): SwarmApi {
  if (!cached) {
    const definition = protoLoader.loadSync([...PROTO_FILES], { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
    const root = grpc.loadPackageDefinition(definition) as unknown as CaProto & DispatcherProto & LogBrokerProto;
    cached = root.docker.swarmkit.v1;
  }
  return cached;
}

// Loads berth's SwarmKit-compatible .proto files into grpc-js service constructors.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
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

function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From source: agent/proto. From dist/agent/proto: the .proto files stay in the source tree.
  for (const d of [here, join(here, '..', '..', '..', 'agent', 'proto')]) {
    if (existsSync(join(d, 'ca.proto'))) return d;
  }
  throw new Error(`berth's .proto files not found near ${here}`);
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

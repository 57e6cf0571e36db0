// Loads berth's SwarmKit-compatible .proto files into grpc-js service constructors.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as CaProto } from './gen/ca.js';
import type { ProtoGrpcType as DispatcherProto } from './gen/dispatcher.js';
import type { ProtoGrpcType as LogBrokerProto } from './gen/logbroker.js';

export type * as api from './api.js';

export const PROTO_FILES = ['ca.proto', 'dispatcher.proto', 'logbroker.proto'] as const;

/** The options the generated types in gen/ were produced with; keep them in step. */
export const LOADER_OPTIONS: protoLoader.Options = {
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

let cached: { api: SwarmApi; definition: protoLoader.PackageDefinition } | undefined;

function load(): { api: SwarmApi; definition: protoLoader.PackageDefinition } {
  if (!cached) {
    const definition = protoLoader.loadSync([...PROTO_FILES], { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
    const root = grpc.loadPackageDefinition(definition) as unknown as CaProto & DispatcherProto & LogBrokerProto;
    cached = { api: root.docker.swarmkit.v1, definition };
  }
  return cached;
}

export function swarmApi(): SwarmApi {
  return load().api;
}

export function packageDefinition(): protoLoader.PackageDefinition {
  return load().definition;
}

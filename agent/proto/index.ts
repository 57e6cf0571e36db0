// grpc-js service constructors for berth's SwarmKit-compatible protos, from the descriptor
// made of them at development time (swarm-api.json, see descriptor.ts). Built here rather than
// by proto-loader: proto-loader also makes a reflection descriptor of every message type (116)
// and a serializer for each, ~250 ms of CPU at every start before the first call to a manager;
// here only the services' methods get (de)serializers, and protobufjs generates a type's codec
// the first time a message of it passes.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';
import { LayoutError } from '../errors.js';
import type { ProtoGrpcType as CaProto } from './gen/ca.js';
import type { ProtoGrpcType as DispatcherProto } from './gen/dispatcher.js';
import type { ProtoGrpcType as LogBrokerProto } from './gen/logbroker.js';

/** Same name as descriptor.ts's DESCRIPTOR_FILE; not imported from there, which loads the .proto parser. */
const DESCRIPTOR_FILE = 'swarm-api.json';
const PACKAGE = 'docker.swarmkit.v1';
const SERVICES = ['CA', 'NodeCA', 'Dispatcher', 'LogBroker'] as const;

/** How messages become objects; the generated types in gen/ were produced with the same
 *  (proto-loader-gen-types --longs=String --defaults --oneofs; enums stay numbers). */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, defaults: true, oneofs: true };

// Beside this module, in the source tree and in the built layout alike (scripts/build.sh copies
// it into dist/): an installed agentd reads nothing from a source tree.
function descriptorPath(): string {
  const path = join(dirname(fileURLToPath(import.meta.url)), DESCRIPTOR_FILE);
  if (existsSync(path)) return path;
  throw new LayoutError(`berth's SwarmKit API descriptor ${path} is missing: rebuild with \`npm run build\` (a package install: reinstall the berth package)`);
}

function codec(type: protobuf.Type): { serialize: (value: object) => Buffer; deserialize: (bytes: Buffer) => object } {
  return {
    serialize: (value) => {
      const bytes = type.encode(type.fromObject(value)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (bytes) => type.toObject(type.decode(bytes), TO_OBJECT),
  };
}

/** The grpc-js definition of one service: its methods' paths, streaming and codecs. */
function serviceDefinition(service: protobuf.Service): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const request = codec(method.resolvedRequestType!);
    const response = codec(method.resolvedResponseType!);
    definition[method.name] = {
      path: `/${PACKAGE}.${service.name}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: request.serialize,
      requestDeserialize: request.deserialize,
      responseSerialize: response.serialize,
      responseDeserialize: response.deserialize,
    };
  }
  return definition;
}

export type SwarmApi = (CaProto & DispatcherProto & LogBrokerProto)['docker']['swarmkit']['v1'];

let cached: SwarmApi | undefined;

export function swarmApi(): SwarmApi {
  if (!cached) {
    const root = protobuf.Root.fromJSON(JSON.parse(readFileSync(descriptorPath(), 'utf8')) as protobuf.INamespace);
    const api: Record<string, grpc.ServiceClientConstructor> = {};
    for (const name of SERVICES) api[name] = grpc.makeClientConstructor(serviceDefinition(root.lookupService(`${PACKAGE}.${name}`)), name);
    cached = api as unknown as SwarmApi;
  }
  return cached;
}

// The SwarmKit protos as one JSON descriptor (protobufjs's Root.toJSON): made from the .proto
// files by `npm run gen:proto` and checked in as swarm-api.json, so agentd reads a descriptor at
// start instead of parsing ~1,000 lines of .proto (a unit test keeps the two in step). Not
// loaded at run time: only the generator and that test parse .proto files.
import { join } from 'node:path';
import protobuf from 'protobufjs';

export const PROTO_FILES = ['ca.proto', 'dispatcher.proto', 'logbroker.proto'] as const;
export const DESCRIPTOR_FILE = 'swarm-api.json';

/** Parses the .proto files in `dir` (imports resolved there; google/protobuf/* built in). */
export function parseSwarmApiProtos(dir: string): object {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  // The names as written (snake_case), as the generated types in gen/ have them.
  root.loadSync([...PROTO_FILES], { keepCase: true });
  return root.toJSON();
}

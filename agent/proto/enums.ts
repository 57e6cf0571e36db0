// SwarmKit's enums as values, taken from the generated code in gen/ (npm run gen:proto) so no
// number is copied by hand. The decoded wire carries enums as numbers (LOADER_OPTIONS has no
// `enums: String`); compare against these, and name a number with enumName.
//
// gen/ is CommonJS (gen/package.json: the generator writes extension-less imports). The type
// import of that package.json below is erased at run time but makes tsc copy the file next to
// the compiled gen/ in dist/, so Node loads those files as CommonJS there too.
import type {} from './gen/package.json';

import { TaskState } from './gen/docker/swarmkit/v1/TaskState.js';

export { TaskState };
/** A TaskState as the wire decodes it: one of the numbers. */
export type TaskStateNumber = (typeof TaskState)[keyof typeof TaskState];
export { LogStream } from './gen/docker/swarmkit/v1/LogStream.js';
export { _docker_swarmkit_v1_AssignmentsMessage_Type as AssignmentsType } from './gen/docker/swarmkit/v1/AssignmentsMessage.js';
export { _docker_swarmkit_v1_AssignmentChange_AssignmentAction as AssignmentAction } from './gen/docker/swarmkit/v1/AssignmentChange.js';
export { _docker_swarmkit_v1_NodeSpec_Availability as NodeAvailability } from './gen/docker/swarmkit/v1/NodeSpec.js';
export { _docker_swarmkit_v1_NodeStatus_State as NodeState } from './gen/docker/swarmkit/v1/NodeStatus.js';
export { _docker_swarmkit_v1_IssuanceStatus_State as IssuanceState } from './gen/docker/swarmkit/v1/IssuanceStatus.js';
export { _docker_swarmkit_v1_EndpointSpec_ResolutionMode as ResolutionMode } from './gen/docker/swarmkit/v1/EndpointSpec.js';
export {
  _docker_swarmkit_v1_PortConfig_Protocol as PortProtocol,
  _docker_swarmkit_v1_PortConfig_PublishMode as PublishMode,
} from './gen/docker/swarmkit/v1/PortConfig.js';
export {
  _docker_swarmkit_v1_Mount_Type as MountType,
  _docker_swarmkit_v1_Mount_Consistency as MountConsistency,
  _docker_swarmkit_v1_Mount_BindOptions_Propagation as MountPropagation,
} from './gen/docker/swarmkit/v1/Mount.js';
export {
  _docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode as SeccompMode,
  _docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode as AppArmorMode,
} from './gen/docker/swarmkit/v1/Privileges.js';
export { _docker_swarmkit_v1_ContainerSpec_Isolation as Isolation } from './gen/docker/swarmkit/v1/ContainerSpec.js';

/** The name of `value` in enum `e` (e.g. enumName(NodeState, 2) === 'READY'), or undefined
 *  for a number the enum does not have. */
export function enumName<E extends Readonly<Record<string, number>>>(e: E, value: unknown): (keyof E & string) | undefined {
  for (const [k, v] of Object.entries(e)) if (v === value) return k as keyof E & string;
  return undefined;
}

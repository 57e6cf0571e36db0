// Errors of the overlay data plane: a stable code to branch on, a message a person can act on,
// and the cause attached. Validation errors mean "this input can never work"; kernel errors
// carry the netlink operation, the object and the errno so logs say what failed where.
// `temporary`: validation errors and a network that never showed up are permanent (the task
// is rejected or fails); every other NetdError (kernel, underlay, reconcile, closed) is
// temporary, worth retrying.
import { BerthError } from '../base/index.js';
import type { ReconcileReport } from './types.js';

export type NetdErrorCode =
  | 'E_INVALID_CIDR'
  | 'E_INVALID_ADDRESS'
  | 'E_INVALID_VNI'
  | 'E_INVALID_NETWORK'
  | 'E_INVALID_ATTACHMENT'
  | 'E_INVALID_ENDPOINT'
  | 'E_SUBNET_OVERLAP'
  | 'E_VNI_CONFLICT'
  | 'E_NETWORK_CHANGED'
  | 'E_ADDRESS_IN_USE'
  | 'E_NETWORK_NOT_FOUND'
  | 'E_SANDBOX_CONFLICT'
  | 'E_UNDERLAY'
  | 'E_NETLINK'
  | 'E_INVALID_OPTION'
  | 'E_RECONCILE'
  | 'E_CLOSED'
  | 'E_NFT'
  | 'E_IPVS'
  | 'E_ENCRYPTED_UNSUPPORTED'
  | 'E_PORT_CONFLICT'
  | 'E_INVALID_PORT'
  | 'E_TASK_NOT_ATTACHED'
  | 'E_NO_GATEWAY';

export class NetdError extends BerthError {
  declare readonly code: NetdErrorCode;
  constructor(code: NetdErrorCode, message: string, options?: { cause?: unknown; temporary?: boolean }) {
    super(code, message, { cause: options?.cause, temporary: options?.temporary ?? true });
  }
}

/** The input is malformed or contradicts what is already programmed; retrying cannot help. */
export class NetdValidationError extends NetdError {
  constructor(code: NetdErrorCode, message: string) {
    super(code, message, { temporary: false });
  }
}

/** A sandbox named a network that was not defined within the wait (moby/moby#25503). */
export class NetworkNotFoundError extends NetdError {
  constructor(
    readonly networkId: string,
    readonly waitedMs: number,
  ) {
    super(
      'E_NETWORK_NOT_FOUND',
      `network ${networkId} not found: it was not defined on this node within ${waitedMs} ms; ` +
        'the task must carry the network in its attachment or the network must be created first',
      { temporary: false },
    );
  }
}

/** Some objects could not be reconciled; the others were, and `report` says what changed. */
export class ReconcileError extends NetdError {
  constructor(
    readonly report: ReconcileReport,
    readonly failures: readonly string[],
  ) {
    super('E_RECONCILE', `reconcile left ${failures.length} object(s) unrepaired: ${failures[0]}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''}`);
  }
}

/** The kernel refused a netlink request. */
export class NetlinkOperationError extends NetdError {
  constructor(
    readonly operation: string,
    readonly errnoName: string,
    readonly kernelMessage: string | undefined,
    options?: { cause?: unknown },
  ) {
    super('E_NETLINK', `${operation}: ${errnoName}${kernelMessage ? ` (${kernelMessage})` : ''}`, options);
  }
}

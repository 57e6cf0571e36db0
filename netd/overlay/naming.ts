// Names of everything berth creates. Ownership is by name: a namespace file with our prefix in
// our directory, a veth starting with VETH_HOST_PREFIX inside one of those namespaces. Reconcile
// only ever deletes objects these functions would have named.
import { createHash } from 'node:crypto';
import { NetdValidationError } from '../errors.js';

export const BRIDGE_NAME = 'br0';
export const VXLAN_NAME = 'vxlan0';
const VETH_HOST_PREFIX = 'bv';
const VETH_PEER_PREFIX = 'bp';
const OVERLAY_INFIX = 'ov-';
/** Interface names are at most 15 bytes; prefix + 11 hex digits of a hash leaves room. */
const VETH_HASH_CHARS = 11;
const NETWORK_ID_CHARS = 12;
const SANDBOX_IF_PREFIX = 'eth';
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_.-]*$/;
const MAX_PREFIX_CHARS = 64;

export function checkId(what: string, id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new NetdValidationError('E_INVALID_NETWORK', `${what} ${JSON.stringify(id)} must be letters, digits, "_", "." or "-"`);
  }
}

export function checkNamePrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix) || prefix.length > MAX_PREFIX_CHARS) {
    throw new NetdValidationError('E_INVALID_NETWORK', `namePrefix ${JSON.stringify(prefix)} must be up to ${MAX_PREFIX_CHARS} of letters, digits, "_", "." or "-"`);
  }
}

/** Namespace file name for a network; the id is shortened like Docker's "1-<id[:10]>". */
export function overlayNetnsName(prefix: string, networkId: string): string {
  return `${prefix}${OVERLAY_INFIX}${networkId.slice(0, NETWORK_ID_CHARS)}`;
}

/** Whether a file name in the netns directory is one of this prefix's overlay namespaces. */
export function isOverlayNetnsName(prefix: string, name: string): boolean {
  return name.startsWith(`${prefix}${OVERLAY_INFIX}`);
}

/** True when `name` is an overlay namespace this prefix owns. */
export function isOwnedNetnsName(prefix: string, name: string): boolean {
  return name.startsWith(`${prefix}${OVERLAY_INFIX}`) && name.length > prefix.length + OVERLAY_INFIX.length;
}

function vethHash(taskId: string, networkId: string): string {
  return createHash('sha256').update(`${taskId}\0${networkId}`).digest('hex').slice(0, VETH_HASH_CHARS);
}

/** The bridge side of a sandbox's veth; stable across restarts so reconcile can find it. */
export function vethHostName(taskId: string, networkId: string): string {
  return `${VETH_HOST_PREFIX}${vethHash(taskId, networkId)}`;
}

/** The sandbox side's name until it is moved and renamed to ethN. */
export function vethPeerName(taskId: string, networkId: string): string {
  return `${VETH_PEER_PREFIX}${vethHash(taskId, networkId)}`;
}

export function sandboxIfname(index: number): string {
  return `${SANDBOX_IF_PREFIX}${index}`;
}

export function isOwnedLinkName(name: string): boolean {
  return name.startsWith(VETH_HOST_PREFIX) || name.startsWith(VETH_PEER_PREFIX);
}

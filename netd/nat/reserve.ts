// Published ports are held by a socket of berth's in the host namespace, as Docker's daemon holds
// them with its proxy: nothing else can take the port, and a port something else already holds
// is found before any rule changes (EADDRINUSE). Nothing is ever accepted on these sockets:
// the DNAT in nat prerouting/output takes the traffic before it could reach them.
import { closeSync } from 'node:fs';
import { NetnsSocketError, openSocketInNetnsAsync } from '../../native/index.js';
import { NetdError, NetdValidationError } from '../errors.js';
import type { Protocol } from './rules.js';

const ANY = '0.0.0.0';

export interface Reservation {
  protocol: Protocol;
  port: number;
  fd: number;
}

/**
 * Opens a reservation in the namespace. TCP sets SO_REUSEADDR (a port in TIME_WAIT is free, as
 * for Docker's Go listener, while a listener elsewhere still conflicts); UDP does not, or it
 * could share a port another process bound with SO_REUSEADDR.
 */
export async function reserve(netnsPath: string, protocol: Protocol, port: number): Promise<Reservation> {
  try {
    const fd = await openSocketInNetnsAsync(netnsPath, { type: protocol, address: ANY, port, reuseAddr: protocol === 'tcp' });
    return { protocol, port, fd };
  } catch (err) {
    if (err instanceof NetnsSocketError && err.errnoName === 'EADDRINUSE') {
      throw new NetdValidationError('E_PORT_CONFLICT', `${protocol} port ${port} is already in use on this host by another process; free it or publish another port`);
    }
    throw new NetdError('E_UNDERLAY', `cannot reserve ${protocol} port ${port} in ${netnsPath}: ${(err as Error).message}`, { cause: err });
  }
}

export function release(r: Reservation): void {
  try {
    closeSync(r.fd);
  } catch {
    // already closed
  }
}

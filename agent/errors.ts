// The agent's own error classes, on base/'s BerthError (re-exported here for the agent's
// callers). Callers branch on `code` (or on `temporary`), never on message text.

import { BerthError } from '../base/index.js';

export { BerthError };

export class ConfigError extends BerthError {}
export class JoinError extends BerthError {}
export class SessionError extends BerthError {}

/** Another live agentd holds the state dir's lock (code E_STATE_LOCKED). */
export class StateLockedError extends BerthError {
  constructor(
    message: string,
    readonly holderPid: number,
  ) {
    super('E_STATE_LOCKED', message);
  }
}

/** A file that ships beside agentd's modules (protos, the native addon, the sandbox image
 *  tarball) is missing from its layout: a partial build or a damaged install. */
export class LayoutError extends BerthError {
  constructor(message: string) {
    super('E_LAYOUT_INCOMPLETE', message);
  }
}

/** The control socket's path is taken: another server listens there, or it is not a socket. */
export class ControlSocketError extends BerthError {}

/** A control-socket request failed: agentd is not running (E_AGENTD_NOT_RUNNING), refused it,
 *  or answered with an error of its own (its code). */
export class ControlRequestError extends BerthError {}

/** The --metrics-addr listener could not start (the port is taken, or the address is not this host's). */
export class MetricsListenError extends BerthError {}

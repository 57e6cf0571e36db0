// The agent's own error classes, on base/'s BerthError (re-exported here for the agent's
// callers). Callers branch on `code` (or on `temporary`), never on message text.

import { BerthError } from '../base/index.js';

export { BerthError };

export class ConfigError extends BerthError {}
export class JoinError extends BerthError {}
export class SessionError extends BerthError {}

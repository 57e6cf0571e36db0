// base/: what several top-level folders (agent/, netd/, dns/, native/) share — the error root
// class, the logger shape, and defaults more than one folder must agree on.
//
// What belongs here: small, dependency-free definitions used by at least two top-level
// folders. What does not: anything only one folder uses (it stays in that folder), anything
// with I/O or state, and any import from the project — base/ imports nothing but Node's own
// modules, so every folder can depend on it without cycles.
export { BerthError, type BerthErrorOptions } from './errors.js';
export type { LogFn, LogLevel } from './log.js';
export { DEFAULT_NETNS_DIR, EMBEDDED_DNS_ADDRESS } from './defaults.js';
export { EventChannel } from './events.js';
export { byCodeUnit } from './order.js';

// Log shipping to the managers (SwarmKit's LogBroker, worker side).
export { runLogBroker, type RunLogBrokerOptions } from './log-broker.js';

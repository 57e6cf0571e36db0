// Log shipping to the managers (SwarmKit's LogBroker, worker side).
export { LogBroker, createLogBrokerClient, runLogBroker, chunkMessages, type LogBrokerOptions, type LogBrokerStats, type NodeCredentials, type RunLogBrokerOptions } from './log-broker.js';

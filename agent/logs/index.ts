// Log shipping to the managers (SwarmKit's LogBroker, worker side).
export { LogBroker, createLogBrokerClient, chunkMessages, type LogBrokerOptions, type LogBrokerStats, type NodeCredentials } from './log-broker.js';

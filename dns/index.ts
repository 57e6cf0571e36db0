// dns/: berth's embedded DNS. The agent uses EmbeddedDns (or the parts below) and feeds its
// NameTable; nothing here imports agent/ or netd/.
export { EmbeddedDns, type EmbeddedDnsOptions } from './embedded.js';
export { DnsError, type DnsErrorCode } from './errors.js';
export {
  NameTable,
  DEFAULT_SERVICE_TTL,
  DEFAULT_TASK_TTL,
  reverseNameToAddress,
  type NameTableOptions,
  type NetworkId,
  type NetworkRecord,
  type Question,
  type Resolution,
  type SandboxId,
  type SandboxRecord,
  type ServiceNetwork,
  type ServicePort,
  type ServiceRecord,
  type TaskNetwork,
  type TaskRecord,
} from './name-table.js';
export { DnsServer, type DnsServerOptions, type DnsStats, type Transport } from './server.js';
export {
  Forwarder,
  DEFAULT_ATTEMPTS,
  DEFAULT_ATTEMPT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_QUEUED,
  type ForwarderOptions,
  type ForwarderStats,
  type UpstreamHealth,
} from './forwarder.js';
export { openSandboxListener, EMBEDDED_DNS_ADDRESS, EMBEDDED_DNS_PORT, type ListenerOptions, type SandboxListener } from './listener.js';
export { chooseUpstreams, hostUpstreams, isLoopback, parseResolvConf, type ResolvConf, type Upstream } from './resolv-conf.js';
export {
  RCode,
  RRType,
  encodeQuery,
  encodeResponse,
  parseQuery,
  type Edns,
  type Malformed,
  type Query,
  type ResourceRecord,
} from './wire.js';

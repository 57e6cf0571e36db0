// dns/: berth's embedded DNS. The node's network controller holds an EmbeddedDns: it writes
// names through `records` (NameRecords) and opens/closes sandboxes; the server reads names
// through NameLookup. Nothing here imports agent/ or netd/. Tests reach the parts (NameTable,
// NameRegistry, DnsServer, the codec...) through their own files.
export { EmbeddedDns, type EmbeddedDnsOptions, type EmbeddedDnsStats } from './embedded.js';
export { DnsError, type DnsErrorCode } from './errors.js';
export { dnsForwardEvents, type DnsForwardEvent } from './events.js';
export type { NameRecords, RecordStats } from './records.js';
export { PROBE_TYPES, probeInNetns, type ProbeAnswer, type ProbeRecord, type ProbeType } from './probe.js';
export type {
  NetworkId,
  NetworkRecord,
  RejectReason,
  SandboxId,
  ServiceNetwork,
  ServicePort,
  ServiceRecord,
  TaskNetwork,
  TaskRecord,
} from './name-table.js';

// What agentd knows that agentctl doctor cannot see from outside: its pid (to tell its own
// ports from another process's), the configuration it runs with, the advertise address it
// resolved, the certificate, the clock skew it measured, the VIP backend in use.
import type { AgentConfig } from '../config.js';
import type { Agent } from '../agent.js';
import type { ClockSkewEstimate } from '../clock-skew.js';
import type { NetworkController } from '../../netd/index.js';
import { knownManagers } from '../agent.js';
import { BERTH_VERSION } from '../version.js';

export interface AgentdFacts {
  pid: number;
  version: string;
  state: string;
  dockerHost: string;
  stateDir: string;
  /** What the data plane opened on; undefined when it is off or failed. */
  advertiseAddress: string | undefined;
  configuredAdvertiseAddress: string | undefined;
  managers: string[];
  certificate: { notBefore: string; notAfter: string } | undefined;
  clockSkew: ClockSkewEstimate | undefined;
  vipBackend: { configured: string; inUse: string | undefined };
  dataPlane: string;
  overlayNetworks: number;
}

export function agentdFacts(config: AgentConfig, agent: Agent | undefined, networking: NetworkController | undefined, dataPlane: string, state: string): AgentdFacts {
  const status = agent?.status();
  return {
    pid: process.pid,
    version: BERTH_VERSION,
    state,
    dockerHost: config.dockerHost,
    stateDir: config.stateDir,
    advertiseAddress: networking?.underlay?.advertiseAddress,
    configuredAdvertiseAddress: config.advertiseAddr,
    managers: status && status.managers.length > 0 ? status.managers : knownManagers(config),
    certificate: agent?.certificateValidity(),
    clockSkew: agent?.clockSkew(),
    vipBackend: { configured: config.vipBackend, inUse: networking?.status().vip?.backend },
    dataPlane,
    overlayNetworks: networking?.status().overlay.networks.length ?? 0,
  };
}

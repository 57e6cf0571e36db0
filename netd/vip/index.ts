// The VIP load balancers (netd/vip): one contract (types.ts), two kernels' ways of keeping it —
// IPVS over generic netlink where the kernel has it, nftables everywhere else — chosen once at
// start (`auto`) or by configuration. Only netd/controller uses this folder.
import type { LogFn } from '../../base/index.js';
import { IpvsBackend, ipvsAvailable } from './ipvs.js';
import { NftablesBackend } from './nftables.js';
import { runNft } from '../nft.js';
import type { VipBackend, VipBackendKind, VipBackendOptions } from './types.js';

export * from './types.js';

export type VipBackendChoice = VipBackendKind | 'auto';

/** IPVS when the "IPVS" generic-netlink family resolves here (module loaded), else nftables. */
export async function openVipBackend(choice: VipBackendChoice, opts: VipBackendOptions & { log: LogFn }): Promise<VipBackend> {
  const { log, ...options } = opts;
  if (choice === 'nftables') return new NftablesBackend(options);
  const available = await ipvsAvailable();
  if (choice === 'ipvs' && !available) log('warn', 'vip backend ipvs requested but this kernel has no IPVS ("IPVS" generic-netlink family absent; modprobe ip_vs?); it will fail until it does', {});
  if (choice === 'ipvs' || available) return new IpvsBackend(options);
  return new NftablesBackend(options);
}

/** What this kernel offers the VIP load balancers, and what `auto` picks: for agentctl doctor. */
export interface VipSupport {
  /** The "IPVS" generic-netlink family resolves (ip_vs loaded or built in). */
  ipvs: boolean;
  /** `nft list tables` works: the nf_tables kernel side and the tool are there. */
  nftables: boolean;
  nftablesError: string | undefined;
  auto: VipBackendKind;
}

export async function probeVipSupport(): Promise<VipSupport> {
  const ipvs = await ipvsAvailable();
  const nft = await runNft('', { args: ['list', 'tables'] }).then(
    () => undefined,
    (err: Error) => err.message,
  );
  return { ipvs, nftables: nft === undefined, nftablesError: nft, auto: ipvs ? 'ipvs' : 'nftables' };
}

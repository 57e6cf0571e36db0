// Small rtnetlink steps shared by the network and sandbox parts of the overlay data plane.
import { formatIpv4, ipv4FromBytes } from '../ipv4.js';
import { AF_INET, RT_TABLE_MAIN, type Rtnl } from './rtnl.js';

export const LOOPBACK = 'lo';
export const GONE = ['ENODEV', 'ENOENT', 'ESRCH', 'EADDRNOTAVAIL'] as const;

export interface AddressView {
  index: number;
  local: number;
  prefixLen: number;
}

export async function addresses(rtnl: Rtnl): Promise<AddressView[]> {
  const all = await rtnl.call('dump addresses', (o) => rtnl.rt.getAddresses({ family: AF_INET }, undefined, o));
  return all.flatMap((a) => (a.attrs.local && a.data.index !== undefined ? [{ index: a.data.index, local: a.attrs.local.readUInt32BE(0), prefixLen: a.data.prefixlen ?? 0 }] : []));
}

export async function hasDefaultRoute(rtnl: Rtnl, oif: number, gateway: number): Promise<boolean> {
  const routes = await rtnl.call('dump routes', (o) => rtnl.rt.getRoutes({ family: AF_INET }, undefined, o));
  return routes.some(
    (r) => r.data.dstLen === 0 && (r.attrs.table ?? r.data.table) === RT_TABLE_MAIN && r.attrs.oif === oif && r.attrs.gateway !== undefined && ipv4FromBytes(r.attrs.gateway) === formatIpv4(gateway),
  );
}

export async function setUp(rtnl: Rtnl, index: number, name: string): Promise<void> {
  await rtnl.call(`set ${name} up`, (o) => rtnl.rt.setLink({ index, flags: { up: true }, change: { up: true } }, undefined, o));
}

export async function deleteLink(rtnl: Rtnl, index: number, name: string): Promise<void> {
  await rtnl.tolerate(`delete link ${name}`, (o) => rtnl.rt.delLink({ index }, undefined, o), GONE);
}

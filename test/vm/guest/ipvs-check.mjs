// Runs inside a VM guest: proves the guest kernel has what the host lacks. Prints one JSON line.
import { execFileSync } from 'node:child_process';
import { createGenericNetlink, genl } from 'netlink';

const IPVS_FAMILY = 'IPVS';
const VXLAN_NAME = 'bvx0';
const VXLAN_VNI = '4242';
const VETH_NAME = 'bveth0';
const VETH_PEER = 'bveth1';
const IPVS_VIP = '10.250.0.1:80';
/** wrr is not in the boot module set, so adding a service with it exercises module autoload. */
const IPVS_SCHEDULER = 'wrr';

function sh(cmd, ...args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const socket = createGenericNetlink();
const [family] = await socket.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: IPVS_FAMILY });

sh('ip', 'link', 'add', VXLAN_NAME, 'type', 'vxlan', 'id', VXLAN_VNI, 'dstport', '4789', 'nolearning');
sh('ip', 'link', 'add', VETH_NAME, 'type', 'veth', 'peer', 'name', VETH_PEER);
const kinds = Object.fromEntries(
  JSON.parse(sh('ip', '-j', '-d', 'link', 'show'))
    .filter((l) => l.linkinfo?.info_kind)
    .map((l) => [l.ifname, l.linkinfo.info_kind]),
);

sh('ipvsadm', '-A', '-t', IPVS_VIP, '-s', IPVS_SCHEDULER);
const services = sh('ipvsadm', '-Ln');

console.log(JSON.stringify({ ipvsFamilyId: family?.familyId ?? null, linkKinds: kinds, ipvsServices: services }));

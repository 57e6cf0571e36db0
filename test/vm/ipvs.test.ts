// Smoke test of the VM harness: the guest kernel has IPVS (the host's does not), the project's
// node_modules work in the guest, and several guests share a network.
import test from 'ava';
import { guestNode, runInVm, runInVms, type VmResult } from '../harness/vm.js';

const IPVS_CHECK_SCRIPT = 'test/vm/guest/ipvs-check.mjs';
const BOOT_TIMEOUT_MS = 90_000;
const NET_PREFIX = '10.231.7';
const NET_MASK_BITS = 24;
const SERVER_ADDR = `${NET_PREFIX}.2`;
const CLIENT_ADDR = `${NET_PREFIX}.1`;
const HANDSHAKE_PORT = 7777;
const HANDSHAKE_WORD = 'berth-hello';
/** The server only waits this long for the client guest, so a broken client cannot hang it. */
const SERVER_WAIT_S = 60;
const PING_ATTEMPTS = 150;

interface IpvsCheck {
  ipvsFamilyId: number | null;
  linkKinds: Record<string, string>;
  ipvsServices: string;
}

function explain(r: VmResult): string {
  return `guest ${r.name} rc=${r.rc} boot=${r.bootMs}ms total=${r.totalMs}ms\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}\n--- console ---\n${r.console}`;
}

function lastJsonLine<T>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
}

test.serial('guest kernel resolves the IPVS generic-netlink family and creates vxlan/veth links', async (t) => {
  const r = await runInVm({ command: guestNode(IPVS_CHECK_SCRIPT), timeoutMs: BOOT_TIMEOUT_MS });
  t.log(`boot ${r.bootMs} ms, total ${r.totalMs} ms`);
  t.is(r.rc, 0, explain(r));
  const check = lastJsonLine<IpvsCheck>(r.stdout);
  t.true(typeof check.ipvsFamilyId === 'number' && check.ipvsFamilyId > 0, explain(r));
  t.is(check.linkKinds.bvx0, 'vxlan');
  t.is(check.linkKinds.bveth0, 'veth');
  t.regex(check.ipvsServices, /TCP\s+10\.250\.0\.1:80\s+wrr/);
});

test.serial('two guests on a shared multicast segment reach each other', async (t) => {
  const busybox = '/bin/busybox';
  const server = ['/bin/sh', '-c', `exec timeout ${SERVER_WAIT_S} ${busybox} nc -l -p ${HANDSHAKE_PORT}`];
  // The client waits for the server's eth0 (the guests boot independently), then proves ICMP
  // and TCP both ways; the TCP message also releases the server.
  const client = [
    '/bin/sh',
    '-c',
    [
      `i=0; until ${busybox} ping -c 1 -W 1 ${SERVER_ADDR} >/dev/null 2>&1; do`,
      `  i=$((i+1)); [ $i -ge ${PING_ATTEMPTS} ] && { echo "no ping reply from ${SERVER_ADDR}" >&2; exit 1; }; sleep 0.2;`,
      'done',
      `${busybox} ping -c 3 -W 2 ${SERVER_ADDR} || exit 2`,
      `i=0; until echo ${HANDSHAKE_WORD} | ${busybox} nc ${SERVER_ADDR} ${HANDSHAKE_PORT}; do`,
      `  i=$((i+1)); [ $i -ge 25 ] && exit 3; sleep 0.2;`,
      'done',
    ].join('\n'),
  ];
  const [a, b] = await runInVms(
    [
      { name: 'client', command: client, address: `${CLIENT_ADDR}/${NET_MASK_BITS}` },
      { name: 'server', command: server, address: `${SERVER_ADDR}/${NET_MASK_BITS}` },
    ],
    { network: true, timeoutMs: BOOT_TIMEOUT_MS },
  );
  t.log(`client boot ${a!.bootMs} ms total ${a!.totalMs} ms; server boot ${b!.bootMs} ms total ${b!.totalMs} ms`);
  t.is(a!.rc, 0, explain(a!));
  t.regex(a!.stdout, /3 packets transmitted, 3 packets received/, explain(a!));
  t.is(b!.rc, 0, explain(b!));
  t.is(b!.stdout.trim(), HANDSHAKE_WORD, explain(b!));
});

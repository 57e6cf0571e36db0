// agentctl doctor's pure judgements, fed the facts this machine and others give, and the
// parsers of the tools' output (ss, iptables --version), the clock-skew estimate and the DNS
// reply decoder agentctl dns uses.
import test from 'ava';
import {
  checkCertificate,
  checkClockSkew,
  checkIptables,
  checkManagers,
  checkMtu,
  checkPort,
  checkVipBackend,
  checkVxlan,
  doctorFailed,
  parseIptablesVariant,
  parseSsListeners,
} from '../../agent/doctor/checks.js';
import { ClockSkew } from '../../agent/clock-skew.js';
import { decodeProbeReply, encodeProbe } from '../../dns/probe.js';

const SS = `udp   UNCONN 0      0          10.77.0.2:7946       0.0.0.0:*    users:(("node",pid=8640,fd=31))
udp   UNCONN 0      0            0.0.0.0:4789       0.0.0.0:*
tcp   LISTEN 0      511        10.77.0.2:7946       0.0.0.0:*    users:(("node",pid=8640,fd=30))
tcp   LISTEN 0      4096            [::]:7946          [::]:*    users:(("dockerd",pid=77,fd=12),("dockerd",pid=77,fd=13))
`;

test('ss output: protocol, address, port and the holding processes; a kernel socket has none', (t) => {
  const l = parseSsListeners(SS);
  t.is(l.length, 4);
  t.deepEqual(l[0], { proto: 'udp', address: '10.77.0.2', port: 7946, holders: [{ command: 'node', pid: 8640 }] });
  t.deepEqual(l[1], { proto: 'udp', address: '0.0.0.0', port: 4789, holders: [] });
  t.deepEqual(l[3]!.address, '::');
  t.deepEqual(l[3]!.holders.map((h) => h.pid), [77, 77]);
  t.deepEqual(parseSsListeners('garbage\n\n'), []);
});

test('ports: free passes; held by agentd passes; by another process fails naming it; 4789 by the kernel depends on agentd', (t) => {
  const listeners = parseSsListeners(SS);
  const base = { agentdPid: 8640, agentdOverlays: true };
  t.is(checkPort({ ...base, port: 7946, proto: 'tcp', bind: 'free', listeners: [] }).status, 'pass');
  const mine = checkPort({ ...base, port: 7946, proto: 'udp', bind: 'in-use', listeners: listeners.filter((l) => l.proto === 'udp' && l.port === 7946) });
  t.is(mine.status, 'pass');
  t.is(mine.detail, 'held by agentd (pid 8640)');
  const docker = checkPort({ ...base, port: 7946, proto: 'tcp', bind: 'in-use', listeners: listeners.filter((l) => l.proto === 'tcp' && l.port === 7946) });
  t.is(docker.status, 'fail', 'any other holder fails');
  t.regex(docker.detail, /dockerd \(pid 77\)/);
  t.regex(docker.fix!, /^stop .*dockerd.*7946/);
  const vxlan = listeners.filter((l) => l.port === 4789);
  t.is(checkPort({ ...base, port: 4789, proto: 'udp', bind: 'in-use', listeners: vxlan }).status, 'pass');
  t.is(checkPort({ agentdPid: undefined, agentdOverlays: false, port: 4789, proto: 'udp', bind: 'in-use', listeners: vxlan }).status, 'warn');
});

test('VIP backend: this kernel (no IPVS, nftables) passes with nftables; a forced ipvs without IPVS fails; nothing usable fails', (t) => {
  const here = { ipvs: false, nftables: true, nftablesError: undefined, auto: 'nftables', configured: 'auto', inUse: 'nftables' };
  const r = checkVipBackend(here);
  t.is(r.status, 'pass');
  t.is(r.detail, 'IPVS absent, nftables usable; agentd uses nftables');
  t.like(r.data, { ipvs: false, nftables: true, auto: 'nftables', inUse: 'nftables' });
  t.regex(checkVipBackend({ ...here, inUse: undefined }).detail, /auto would pick nftables$/);
  t.is(checkVipBackend({ ...here, configured: 'ipvs' }).status, 'fail');
  t.is(checkVipBackend({ ...here, nftables: false, nftablesError: 'nft: not found' }).status, 'fail');
  t.is(checkVipBackend({ ...here, ipvs: true, auto: 'ipvs', nftables: false, nftablesError: 'x', inUse: 'ipvs' }).status, 'pass', 'IPVS alone is enough for auto');
});

test('iptables: the variant from --version; missing is a warning', (t) => {
  t.is(parseIptablesVariant('iptables v1.8.9 (nf_tables)\n'), 'nf_tables');
  t.is(parseIptablesVariant('iptables v1.8.7 (legacy)'), 'legacy');
  t.is(parseIptablesVariant('iptables v1.4.21'), undefined);
  t.like(checkIptables('iptables v1.8.9 (legacy)\n'), { status: 'pass', data: { variant: 'legacy', version: 'v1.8.9' } });
  t.is(checkIptables(undefined).status, 'warn');
});

test('vxlan: built in or loadable passes, neither fails', (t) => {
  t.is(checkVxlan({ loaded: true, loadable: undefined }).status, 'pass');
  t.is(checkVxlan({ loaded: false, loadable: true }).status, 'pass');
  t.is(checkVxlan({ loaded: false, loadable: false }).status, 'fail');
});

test('MTU: the overlay gets 50 less; an address on no interface fails; none known is skipped', (t) => {
  t.like(checkMtu({ advertiseAddress: '10.0.0.2', source: 'x', iface: 'eth0', mtu: 1500 }), { status: 'pass', data: { overlayMtu: 1450 } });
  t.is(checkMtu({ advertiseAddress: '10.0.0.2', source: 'x', iface: 'eth0', mtu: 1300 }).status, 'warn');
  t.is(checkMtu({ advertiseAddress: '10.0.0.9', source: 'x', iface: undefined, mtu: undefined }).status, 'fail');
  t.is(checkMtu({ advertiseAddress: undefined, source: 'none', iface: undefined, mtu: undefined }).status, 'skip');
});

test('managers: all reachable pass, some warn, none fail, unknown skip', (t) => {
  t.is(checkManagers([{ manager: 'a:2377', ok: true, ms: 1 }], 'x').status, 'pass');
  t.is(checkManagers([{ manager: 'a:2377', ok: true }, { manager: 'b:2377', ok: false, error: 'ECONNREFUSED' }], 'x').status, 'warn');
  const none = checkManagers([{ manager: 'b:2377', ok: false, error: 'ECONNREFUSED' }], 'x');
  t.is(none.status, 'fail');
  t.regex(none.detail, /b:2377: ECONNREFUSED/);
  t.is(checkManagers([], 'x').status, 'skip');
});

test('clock skew: within 2 s passes, minutes warn, beyond 5 min fails; not measured or agentd stopped is skipped', (t) => {
  const s = (ms: number) => ({ skewMs: ms, samples: 3, source: 'x' });
  t.is(checkClockSkew(s(150), true).status, 'pass');
  t.regex(checkClockSkew(s(-90_000), true).detail, /90\.0 s behind the manager/);
  t.is(checkClockSkew(s(-90_000), true).status, 'warn');
  t.is(checkClockSkew(s(400_000), true).status, 'fail');
  t.is(checkClockSkew(undefined, true).status, 'skip');
  t.is(checkClockSkew(s(0), false).status, 'skip');
});

test('clock skew estimate: the smallest recent (local receive − manager stamp), an upper bound', (t) => {
  const c = new ClockSkew();
  t.is(c.estimate(), undefined);
  c.observe(1_000_000, 1_000_400); // delivered 400 ms late
  c.observe(2_000_000, 2_000_050);
  c.observe(0, 5); // no stamp: ignored
  t.like(c.estimate(), { skewMs: 50, samples: 2 });
  for (let i = 0; i < 40; i++) c.observe(3_000_000 + i, 3_000_000 + i + 700);
  t.like(c.estimate(), { skewMs: 700, samples: 32 }, 'only the newest samples count');
});

test('certificate: expired and not-yet-valid fail, the last tenth of its life warns', (t) => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const cert = (nb: string, na: string) => ({ notBefore: nb, notAfter: na, source: 'x' });
  t.is(checkCertificate(cert('2026-05-01T00:00:00Z', '2026-08-01T00:00:00Z'), now, '').status, 'pass');
  t.is(checkCertificate(cert('2026-03-01T00:00:00Z', '2026-06-05T00:00:00Z'), now, '').status, 'warn');
  t.is(checkCertificate(cert('2026-03-01T00:00:00Z', '2026-05-30T00:00:00Z'), now, '').status, 'fail');
  t.regex(checkCertificate(cert('2026-06-02T00:00:00Z', '2026-09-01T00:00:00Z'), now, '').detail, /clock is behind/);
  t.is(checkCertificate(undefined, now, 'not joined').status, 'skip');
  t.false(doctorFailed([checkCertificate(undefined, now, '')]));
});

test('DNS probe: the query is a stub resolver\'s; the reply decoder reads rcode, flags and answers (compressed names)', (t) => {
  const q = encodeProbe(0x1234, 'web.appnet', 'A');
  t.is(q.readUInt16BE(0), 0x1234);
  t.is(q.readUInt16BE(4), 1);
  t.throws(() => encodeProbe(1, '', 'A'), { code: 'E_DNS_BAD_NAME' });
  // The reply: header (QR AA, NOERROR, 1 question, 2 answers), the question, A and SRV records
  // whose names point at the question's name.
  const header = Buffer.from([0x12, 0x34, 0x84, 0x00, 0, 1, 0, 2, 0, 0, 0, 0]);
  const question = q.subarray(12);
  const a = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 2, 0x58, 0, 4, 10, 0, 0, 2]);
  const srvData = Buffer.concat([Buffer.from([0, 10, 0, 5, 0x1f, 0x90]), Buffer.from([0xc0, 12])]);
  const srv = Buffer.concat([Buffer.from([0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 30, 0, srvData.length]), srvData]);
  const r = decodeProbeReply(Buffer.concat([header, question, a, srv]));
  t.deepEqual(r, {
    rcode: 'NOERROR',
    authoritative: true,
    truncated: false,
    answers: [
      { name: 'web.appnet', type: 'A', ttl: 600, data: '10.0.0.2' },
      { name: 'web.appnet', type: 'SRV', ttl: 30, data: '10 5 8080 web.appnet' },
    ],
  });
  const nx = Buffer.concat([Buffer.from([0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]), question]);
  t.like(decodeProbeReply(nx), { rcode: 'NXDOMAIN', authoritative: false, answers: [] });
  t.throws(() => decodeProbeReply(Buffer.concat([header, question, a.subarray(0, 8)])), { code: 'E_DNS_BAD_REPLY' });
  t.throws(() => decodeProbeReply(q), { code: 'E_DNS_BAD_REPLY' }, 'a query is not a reply');
});

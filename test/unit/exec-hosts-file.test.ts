import test from 'ava';
import { renderHostsFile } from '../../agent/exec/docker/hosts-file.js';

// What a Docker 20.10 worker gave a task on two overlays with two extra hosts (checked by hand
// against the real engine: `docker exec <task> cat /etc/hosts`).
const DOCKER_WORKER = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
1.2.3.4	foo
5.6.7.8	bar
10.128.0.3	5ca291a00802
10.129.0.3	5ca291a00802
`;

test("the file Docker's worker writes: defaults, extra hosts, then the task's addresses with its hostname", (t) => {
  t.is(renderHostsFile({ extraHosts: ['foo:1.2.3.4', 'bar:5.6.7.8'], addresses: ['10.128.0.3', '10.129.0.3'] }, '5ca291a00802'), DOCKER_WORKER);
});

test('a dotted hostname is listed as the full name and its first label; a domain name joins it', (t) => {
  t.regex(renderHostsFile({ extraHosts: [], addresses: ['10.128.0.5'] }, 'web.example.com'), /\n10\.128\.0\.5\tweb\.example\.com web\n$/);
  t.regex(renderHostsFile({ extraHosts: [], addresses: ['10.128.0.5'] }, 'web', 'example.com'), /\n10\.128\.0\.5\tweb\.example\.com web\n$/);
});

test('an IPv6 extra host keeps its colons; no address gives no line of its own', (t) => {
  const out = renderHostsFile({ extraHosts: ['db:fd00::1'], addresses: [] }, 'h1');
  t.true(out.endsWith('\nfd00::1\tdb\n'));
  t.false(out.includes('h1'));
});

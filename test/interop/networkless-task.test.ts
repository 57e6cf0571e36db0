// A task of a service without networks runs, by default, in a sandbox berth plumbs onto its
// gateway bridge (made without the engine's networking), not on the engine's docker0: egress
// through the bridge, berth's /etc/hosts with the task's own address (the same file Docker's
// worker writes for the same spec, but for the address), the embedded DNS forwarding upstream
// and answering no cluster name; its pause process without capabilities or a seccomp filter,
// the task's own container under the engine's. A task with a host-mode port (a dynamic host
// port is the engine's to pick) or on the predefined bridge network stays on the engine's
// bridge. Removing the service leaves no veth behind.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const GATEWAY_SUBNET = /^172\.31\.\d+\.\d+$/;

test('a task without networks runs on berth\'s gateway bridge: egress, its own /etc/hosts line as on Docker\'s worker, no cluster names, nothing left after removal', async (t) => {
  const c = await startBerthCluster(t);
  const { manager, engine, status: st } = c;
  const d = manager.dockerd;
  const host = c.underlay.hosts[1]!;
  const gatewayPorts = async () => (await host.exec('ip', ['-o', 'link', 'show', 'master', 'berth_gwbridge'])).trim().split('\n').filter(Boolean).length;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.133.0.0/24', 'privnet']);
  const spec = ['--host', 'db.example:192.0.2.10', '--hostname', '{{.Service.Name}}-{{.Task.Slot}}', TEST_IMAGE, 'sleep', '3600'];
  const create = (name: string, node: string, ...extra: string[]) => d.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--constraint', `node.id==${node}`, ...extra, ...spec]);
  await create('bare', st.nodeId);
  await create('dockerbare', manager.nodeId);
  await create('private', st.nodeId, '--network', 'privnet');
  await create('hostport', st.nodeId, '--publish', 'mode=host,published=8089,target=80');
  await create('onbridge', st.nodeId, '--network', 'bridge');
  const services = ['bare', 'dockerbare', 'private', 'hostport', 'onbridge'];
  await waitFor(
    'the five tasks Running',
    async () => {
      const out = (await d.docker(['service', 'ps', ...services, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === services.length && out.every((l) => l.startsWith('Running'));
    },
    90_000,
  );
  const onBerth = engine.docker.bind(engine);
  const onDocker = d.docker.bind(d);
  const taskOf = async (engineDocker: typeof onBerth, svc: string) => (await engineDocker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`])).stdout.trim();
  const inTask = async (engineDocker: typeof onBerth, id: string, script: string) => (await engineDocker(['exec', id, 'sh', '-c', script], 30_000)).stdout;
  const bare = await taskOf(onBerth, 'bare');
  const dockerBare = await taskOf(onDocker, 'dockerbare');

  // Its network namespace is a sandbox's made without the engine's networking.
  const mode = (await onBerth(['inspect', '-f', '{{.HostConfig.NetworkMode}}', bare])).stdout.trim();
  t.regex(mode, /^container:[0-9a-f]{64}$/);
  const sandbox = JSON.parse((await onBerth(['inspect', '--type', 'container', mode.slice('container:'.length)])).stdout)[0] as { Name: string; Config: { NetworkDisabled?: boolean }; State: { Pid: number } };
  t.true(sandbox.Config.NetworkDisabled, sandbox.Name);
  // Its pause process has no capabilities and no seccomp filter; the task keeps the engine's filter.
  const status = (pid: number) => Object.fromEntries(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').map((l) => l.split(':\t')));
  const pause = status(sandbox.State.Pid);
  t.like(pause, { CapEff: '0000000000000000', CapBnd: '0000000000000000', NoNewPrivs: '1', Seccomp: '0' });
  const taskPid = Number((await onBerth(['inspect', '-f', '{{.State.Pid}}', bare])).stdout.trim());
  t.is(status(taskPid).Seccomp, '2', 'the task runs under a seccomp filter');

  // One interface on the gateway bridge, and the default route through it.
  const address = (await inTask(onBerth, bare, "ip -4 -o addr show eth0 | awk '{print $4}'")).trim().split('/')[0]!;
  t.regex(address, GATEWAY_SUBNET);
  t.regex(await inTask(onBerth, bare, 'ip route'), /^default via 172\.31\.0\.1 dev eth0/m);
  t.is((await inTask(onBerth, bare, 'ls /sys/class/net | sort')).trim(), 'eth0\nlo');

  // /etc/hosts: Docker's worker writes the same for the same spec on its bridge, but for the address.
  const hosts = await inTask(onBerth, bare, 'cat /etc/hosts');
  t.log(hosts);
  const dockerHosts = await inTask(onDocker, dockerBare, 'cat /etc/hosts');
  t.is(hosts.replace(`${address}\tbare-1`, '<own>'), dockerHosts.replace(/\n\d+\.\d+\.\d+\.\d+\tdockerbare-1\n$/, '\n<own>\n'));
  t.regex(await inTask(onBerth, bare, 'ping -c 1 -W 2 bare-1'), new RegExp(`PING bare-1 \\(${address.replaceAll('.', '\\.')}\\)`));

  // IPv6 is off as in Docker's task on its bridge.
  const ipv6 = 'for f in all default lo eth0; do echo "$f $(cat /proc/sys/net/ipv6/conf/$f/disable_ipv6)"; done';
  t.is(await inTask(onBerth, bare, ipv6), await inTask(onDocker, dockerBare, ipv6));

  // Egress: the manager's host answers, reached through the gateway bridge's masquerade.
  t.regex(await inTask(onBerth, bare, `ping -c 1 -W 3 ${c.underlay.hosts[0]!.address}`), / 0% packet loss/);

  // The embedded DNS serves it, and answers no name of a network it is not on.
  t.is((await inTask(onBerth, bare, 'cat /etc/resolv.conf')).match(/^nameserver .*/gm)?.join('\n'), 'nameserver 127.0.0.11');
  const privateTask = await taskOf(onBerth, 'private');
  t.regex(await inTask(onBerth, privateTask, 'nslookup -type=a private 127.0.0.11 2>&1 || true'), /Address: 10\.133\.0\.\d+/, 'the name exists on privnet');
  const fromBare = await inTask(onBerth, bare, 'nslookup -type=a private 127.0.0.11 2>&1 || true');
  // Answered (forwarded: this test host has no resolver, hence SERVFAIL), not timed out.
  t.regex(fromBare, /server can't find private: (SERVFAIL|NXDOMAIN)/);
  t.notRegex(fromBare, /10\.133\.0\./);

  // A host-mode port keeps the engine's bridge, and so does the predefined bridge network.
  t.is((await onBerth(['inspect', '-f', '{{.HostConfig.NetworkMode}}', await taskOf(onBerth, 'hostport')])).stdout.trim(), 'bridge');
  t.regex((await onBerth(['inspect', '-f', '{{.HostConfig.NetworkMode}} {{.NetworkSettings.Networks.bridge.IPAddress}}', await taskOf(onBerth, 'onbridge')])).stdout.trim(), /^bridge 172\.17\.\d+\.\d+$/);

  // Removal takes the task's veth off the bridge; the overlay task keeps its own there.
  const ports = await gatewayPorts();
  await d.docker(['service', 'rm', 'bare']);
  await waitFor('the bare task gone and its veth with it', async () => (await taskOf(onBerth, 'bare')) === '' && (await gatewayPorts()) === ports - 1, 60_000);
  t.regex(await inTask(onBerth, privateTask, `ping -c 1 -W 3 ${c.underlay.hosts[0]!.address}`), / 0% packet loss/);
});

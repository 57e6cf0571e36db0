#!/usr/bin/env node
// agentctl: local diagnostics over agentd's control socket (doctor also looks at the host).
// Human tables by default, --json on every command; exit statuses in EXIT (format.ts).
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { BERTH_VERSION } from '../version.js';
import { DEFAULT_CONFIG_FILE, DEFAULT_CONTROL_SOCKET, configFromEnv, parseConfigFile, resolveConfig, type ConfigInput } from '../config.js';
import { controlRequest } from '../control.js';
import { BerthError, ControlRequestError } from '../errors.js';
import type { AgentStatus } from '../agent.js';
import type { TaskView } from '../worker/worker.js';
import type { TaskAnswer } from '../control-endpoints.js';
import type { NetworkPeers, NetworkStatus, VipView } from '../../netd/index.js';
import { PROBE_TYPES, type ProbeAnswer } from '../../dns/index.js';
import { doctorFailed, runDoctor } from '../doctor/index.js';
import { EXIT, dnsAnswered, formatDns, formatDoctor, formatNetworks, formatPeers, formatStatus, formatTask, formatTasks, formatVips } from './format.js';

const EXIT_HELP = `
Exit status:
  ${EXIT.OK}  ok
  ${EXIT.ERROR}  an unexpected error (the message says what)
  ${EXIT.USAGE}  usage: an unknown command, option or argument
  ${EXIT.AGENTD_NOT_RUNNING}  agentd is not running (no control socket; doctor still runs and exits 0 or 4)
  ${EXIT.FAILED}  a check failed: doctor found a failure, dns got no answer, no such task`;

const program = new Command('agentctl')
  .description('berth local diagnostics')
  .version(BERTH_VERSION)
  .option('--socket <path>', 'agentd control socket', process.env.BERTH_CONTROL_SOCKET ?? DEFAULT_CONTROL_SOCKET)
  .addHelpText('after', EXIT_HELP)
  .showHelpAfterError()
  .exitOverride();

function socket(): string {
  return program.opts<{ socket: string }>().socket;
}

/** Prints JSON or the human form; the exit status follows `ok`. */
function out(json: boolean | undefined, value: unknown, human: () => string, ok = true): void {
  process.stdout.write(`${json ? JSON.stringify(value, null, 2) : human()}\n`);
  if (!ok) process.exitCode = EXIT.FAILED;
}

const get = (path: string) => controlRequest(socket(), path);

program
  .command('status')
  .description("the agent's state (joining, retrying with the last error and the next attempt, connected, degraded), node, manager session, tasks")
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    const s = (await get('/status')) as AgentStatus;
    out(o.json, s, () => formatStatus(s, Date.now()));
  });

program
  .command('tasks')
  .description('the tasks on this node: id, service.slot, state, desired state, image, message')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    const tasks = (await get('/tasks')) as TaskView[];
    out(o.json, tasks, () => formatTasks(tasks));
  });

program
  .command('task')
  .description('one task in detail: states, networks and addresses, its sandbox')
  .argument('<id>', 'task id (or a unique prefix)')
  .option('--json', 'print JSON')
  .action(async (id: string, o: { json?: boolean }) => {
    const t = (await get(`/task?${new URLSearchParams({ id })}`)) as TaskAnswer;
    out(o.json, t, () => formatTask(t));
  });

program
  .command('networks')
  .description('the overlay networks programmed here (VNI, sandboxes, remote endpoints, namespace), DNS counters, the last reconcile')
  .option('--json', 'print JSON (null when the data plane is off)')
  .action(async (o: { json?: boolean }) => {
    const n = (await get('/networks')) as NetworkStatus | null;
    out(o.json, n, () => formatNetworks(n));
  });

program
  .command('vips')
  .description("this node's load balancers: per network, each service's VIP, ports and backends")
  .option('--json', 'print JSON (null when the data plane is off)')
  .action(async (o: { json?: boolean }) => {
    const v = (await get('/vips')) as VipView | null;
    out(o.json, v, () => formatVips(v));
  });

program
  .command('peers')
  .description("the cluster's gossip members (name, address, state) and other nodes' endpoints held per network")
  .option('--endpoints', "also every endpoint_table entry: which node announced which task name on which network")
  .option('--json', 'print JSON (null when the data plane is off)')
  .action(async (o: { json?: boolean; endpoints?: boolean }) => {
    const p = (await get(o.endpoints ? '/peers?endpoints=1' : '/peers')) as NetworkPeers | null;
    out(o.json, p, () => formatPeers(p));
  });

program
  .command('gossip')
  .description("this node in the cluster's gossip: its name, members, counters (null until the manager sent the keys)")
  .option('--json', 'print JSON (the default: counters have no table)')
  .action(async () => {
    process.stdout.write(`${JSON.stringify(await get('/gossip'), null, 2)}\n`);
  });

program
  .command('dns')
  .description("resolve a name as a task does: asks the embedded DNS from inside the task's sandbox (only names of its networks exist there)")
  .argument('<name>', 'the name to resolve')
  .requiredOption('--task <id>', 'the task whose view to take (id or a unique prefix)')
  .addOption(new Option('--type <type>', 'record type').choices([...PROBE_TYPES]).default('A'))
  .option('--json', 'print JSON')
  .action(async (name: string, o: { task: string; type: string; json?: boolean }) => {
    const a = (await get(`/dns?${new URLSearchParams({ name, task: o.task, type: o.type })}`)) as ProbeAnswer & { name: string; type: string; task: string };
    out(o.json, a, () => formatDns(a), dnsAnswered(a));
  });

program
  .command('doctor')
  .description('checks this host for agentd: root, Docker, sandbox image, native addon, kernel (VXLAN, IPVS/nftables), iptables, MTU, ports, clock skew, certificate; works with agentd stopped')
  .option('--state-dir <dir>', "agentd's state dir, when agentd is stopped (default: as agentd: BERTH_STATE_DIR, the config file, /var/lib/berth)")
  .option('--docker-host <url>', 'the Docker Engine, when agentd is stopped (default: as agentd)')
  .option('--manager <addr...>', 'manager address(es) host:port, when agentd is stopped (default: as agentd, then the saved list)')
  .option('--advertise-addr <ip>', 'the address agentd advertises, when agentd is stopped')
  .option('--config <file>', `agentd's JSON config file (default ${DEFAULT_CONFIG_FILE} if present)`)
  .option('--json', 'print JSON')
  .action(async (o: { stateDir?: string; dockerHost?: string; manager?: string[]; advertiseAddr?: string; config?: string; json?: boolean }) => {
    const configPath = o.config ?? process.env.BERTH_CONFIG ?? DEFAULT_CONFIG_FILE;
    const file: ConfigInput = existsSync(configPath) ? parseConfigFile(readFileSync(configPath, 'utf8'), configPath) : {};
    const config = resolveConfig([file, configFromEnv(process.env), { stateDir: o.stateDir, dockerHost: o.dockerHost, managers: o.manager, advertiseAddr: o.advertiseAddr }]);
    const results = await runDoctor({ socket: socket(), config });
    out(o.json, { ok: !doctorFailed(results), checks: results }, () => formatDoctor(results), !doctorFailed(results));
  });

program
  .command('version')
  .description("berth's version and the Node runtime agentctl runs on, and the running agentd's version")
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    const agentd = await get('/doctor').then(
      (f) => (f as { version?: string }).version,
      () => undefined,
    );
    const node = process.versions.node;
    out(o.json, { berth: BERTH_VERSION, node, ...(agentd ? { agentd } : {}) }, () => `berth    ${BERTH_VERSION} (node ${node})\nagentd   ${agentd ?? '- (not running)'}`);
  });

function exitFor(err: unknown): number {
  if (err instanceof ControlRequestError && err.code === 'E_AGENTD_NOT_RUNNING') return EXIT.AGENTD_NOT_RUNNING;
  if (err instanceof ControlRequestError && ['E_NO_SUCH_TASK', 'E_TASK_NOT_ATTACHED', 'E_DNS_PROBE_TIMEOUT', 'E_DATA_PLANE_OFF'].includes(err.code)) return EXIT.FAILED;
  if (err instanceof ControlRequestError && err.code === 'E_BAD_REQUEST') return EXIT.USAGE;
  return EXIT.ERROR;
}

program.parseAsync().catch((err: unknown) => {
  // Commander has printed usage errors (and help or the version, which end here with 0).
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
  const code = err instanceof BerthError ? ` [${err.code}]` : '';
  process.stderr.write(`agentctl: ${(err as Error).message}${code}\n`);
  process.exit(exitFor(err));
});

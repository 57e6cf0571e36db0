// Docker's daemon sets the iptables filter FORWARD policy to DROP. An accept in berth's own nft
// table does not help there: every base chain on the forward hook must let a packet through,
// and FORWARD's policy drops what no rule of its accepted. So when the policy is DROP, berth
// adds a chain of its own, BERTH-FORWARD, with the accepts for its bridge, jumped to from
// FORWARD by one appended rule — checked first, never duplicated; nobody else's rule is moved,
// flushed or deleted. Whichever `iptables` is installed (nft or legacy) is used, as Docker does.
import { execFile } from 'node:child_process';
import { NetdError } from '../errors.js';

export const FORWARD_CHAIN = 'BERTH-FORWARD';
const IPTABLES = 'iptables';
const NSENTER = 'nsenter';
const TIMEOUT_MS = 30_000;
/** How many stray jumps cleanup removes at most (there should be one). */
const MAX_JUMPS = 16;

export interface IptablesResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** The command is not installed. */
  missing: boolean;
}

/** Runs `iptables -w <args>` in the namespace (or this process's); never rejects. */
export function iptables(args: readonly string[], netnsPath?: string): Promise<IptablesResult> {
  const argv = ['-w', ...args];
  const [cmd, full] = netnsPath ? [NSENTER, [`--net=${netnsPath}`, IPTABLES, ...argv]] : [IPTABLES, argv];
  return new Promise((resolve) => {
    execFile(cmd, full, { timeout: TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code: unknown = err ? (err as { code?: unknown }).code : undefined;
      // nsenter reports a missing program as exit 127 ("failed to execute iptables").
      const missing = code === 'ENOENT' || (netnsPath !== undefined && code === 127);
      resolve({ ok: err === null, stdout: String(stdout), stderr: String(stderr), missing });
    });
  });
}

/** The policy in `iptables -S FORWARD` output ("-P FORWARD DROP"), if any. */
export function forwardPolicy(listing: string): string | undefined {
  return /^-P FORWARD (\S+)/m.exec(listing)?.[1];
}

/** The accepts BERTH-FORWARD holds, as `iptables -A BERTH-FORWARD` arguments. */
export function forwardAccepts(bridge: string): string[][] {
  return [
    ['-i', bridge, '!', '-o', bridge, '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    // Published ports: DNAT-ed toward a task (host mode) or the ingress namespace.
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT'],
  ];
}

const JUMP = ['FORWARD', '-j', FORWARD_CHAIN];

function failure(what: string, r: IptablesResult): NetdError {
  return new NetdError('E_NFT', `iptables ${what} failed: ${r.stderr.trim() || r.stdout.trim() || 'no output'}`);
}

export type ForwardOutcome = 'not-needed' | 'no-iptables' | 'present' | 'installed';

/** Installs BERTH-FORWARD and its jump when FORWARD's policy is DROP; idempotent. */
export async function ensureForwardAccepts(bridge: string, netnsPath?: string): Promise<ForwardOutcome> {
  const list = await iptables(['-S', 'FORWARD'], netnsPath);
  if (list.missing) return 'no-iptables';
  if (!list.ok) throw failure('-S FORWARD', list);
  if (forwardPolicy(list.stdout) !== 'DROP') return 'not-needed';
  const wanted = forwardAccepts(bridge);
  let changed = false;
  const chain = await iptables(['-S', FORWARD_CHAIN], netnsPath);
  if (!chain.ok) {
    const created = await iptables(['-N', FORWARD_CHAIN], netnsPath);
    if (!created.ok) throw failure(`-N ${FORWARD_CHAIN}`, created);
    changed = true;
  }
  const count = chain.ok ? chain.stdout.split('\n').filter((l) => l.startsWith('-A ')).length : 0;
  let complete = count === wanted.length;
  for (const rule of complete ? wanted : []) {
    if (!(await iptables(['-C', FORWARD_CHAIN, ...rule], netnsPath)).ok) complete = false;
  }
  if (!complete) {
    // Our own chain: rewriting it whole is ours to do.
    const flushed = await iptables(['-F', FORWARD_CHAIN], netnsPath);
    if (!flushed.ok) throw failure(`-F ${FORWARD_CHAIN}`, flushed);
    for (const rule of wanted) {
      const added = await iptables(['-A', FORWARD_CHAIN, ...rule], netnsPath);
      if (!added.ok) throw failure(`-A ${FORWARD_CHAIN} ${rule.join(' ')}`, added);
    }
    changed = true;
  }
  if (!(await iptables(['-C', ...JUMP], netnsPath)).ok) {
    const jumped = await iptables(['-A', ...JUMP], netnsPath);
    if (!jumped.ok) throw failure(`-A ${JUMP.join(' ')}`, jumped);
    changed = true;
  }
  return changed ? 'installed' : 'present';
}

/** Removes the jump(s) to BERTH-FORWARD and the chain; nothing else. */
export async function removeForwardAccepts(netnsPath?: string): Promise<void> {
  const chain = await iptables(['-S', FORWARD_CHAIN], netnsPath);
  if (chain.missing || !chain.ok) return;
  for (let i = 0; i < MAX_JUMPS && (await iptables(['-C', ...JUMP], netnsPath)).ok; i++) {
    const r = await iptables(['-D', ...JUMP], netnsPath);
    if (!r.ok) throw failure(`-D ${JUMP.join(' ')}`, r);
  }
  for (const args of [['-F', FORWARD_CHAIN], ['-X', FORWARD_CHAIN]]) {
    const r = await iptables(args, netnsPath);
    if (!r.ok) throw failure(args.join(' '), r);
  }
}

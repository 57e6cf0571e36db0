// nftables through the `nft` tool: one script, one atomic transaction (`nft -f -` applies the
// whole batch or none of it), inside any namespace (nsenter --net). Shared by the VIP load
// balancers and the host rules; each owns a table of its own and never touches another's.
//
// The tool writes whole tables (their structure changes rarely); the VIP load balancer's
// frequent change — a service's backends — goes through nfnetlink instead (netd/vip/
// nfnetlink.ts): `npm run bench -- vip` measures both paths in one run (0.2 ms against 60 ms at
// 10,000 services, where a spawn alone costs ~5 ms and nft re-reads every chain and set).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NetdError } from './errors.js';

/** nftables' tool by absolute path: under npm/npx, node_modules/.bin comes first on PATH and
 *  holds an unrelated `nft` (@vercel/nft, a file tracer) that exits 0 doing nothing. */
const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft', '/usr/local/sbin/nft', '/usr/bin/nft'];
const NFT = NFT_PATHS.find((p) => existsSync(p)) ?? '/usr/sbin/nft';
const NSENTER = 'nsenter';
/** stderr kept in an error message. */
const MAX_ERROR_CHARS = 2_000;

export interface NftResult {
  stdout: string;
}

/** Runs `nft <args>` with `script` on stdin, in `netnsPath` (or this process's namespace). */
export function runNft(script: string, opts: { netnsPath?: string; args?: readonly string[] } = {}): Promise<NftResult> {
  const args = [...(opts.args ?? ['-f', '-'])];
  const [cmd, argv] = opts.netnsPath ? [NSENTER, [`--net=${opts.netnsPath}`, NFT, ...args]] : [NFT, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new NetdError('E_NFT', `cannot run ${cmd}: ${e.message} (is nftables installed?)`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0) return resolve({ stdout: Buffer.concat(out).toString('utf8') });
      const where = opts.netnsPath ? ` in ${opts.netnsPath}` : '';
      const stderr = Buffer.concat(err).toString('utf8').slice(0, MAX_ERROR_CHARS).trim();
      reject(new NetdError('E_NFT', `nft ${args.join(' ')}${where} failed (exit ${String(code)}): ${stderr}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(script);
  });
}

/** Whether `table` (family ip) exists in the namespace. */
export async function nftTableExists(table: string, netnsPath?: string): Promise<boolean> {
  try {
    await runNft('', { ...(netnsPath ? { netnsPath } : {}), args: ['list', 'table', 'ip', table] });
    return true;
  } catch {
    return false;
  }
}

// A continuous ping (iputils, -D timestamps) from inside a network namespace, for tests that
// must prove that not one echo was lost across an event: every sequence number is accounted for.
import { spawn } from 'node:child_process';
import { HarnessError, requireCommand } from '../../scripts/lib/exec.js';

export interface PingResult {
  transmitted: number;
  received: number;
  /** Sequence numbers sent and never answered (the last one is excluded when it was in flight). */
  lost: number[];
  /** The last echo was sent within one round trip of the stop, so it could not be answered. */
  lastInFlight: boolean;
  /** Sequence number → wall-clock receive time (ms since the epoch). */
  replies: Map<number, number>;
  output: string;
}

export interface PingStream {
  /** Replies so far. */
  readonly received: number;
  /** Receive time of the newest reply, ms since the epoch. */
  readonly lastReplyAt: number | undefined;
  /** SIGINT (ping prints its summary) and the accounting. */
  stop(): Promise<PingResult>;
  /** SIGKILL, for teardown. */
  kill(): void;
}

const REPLY = /^\[(\d+\.\d+)\] \d+ bytes from [^:]+: icmp_seq=(\d+) /;
const SUMMARY = /(\d+) packets transmitted, (\d+) received/;

/** `intervalS` below 0.2 needs root (the suites run as root). */
export function startPingStream(netnsPath: string, destination: string, intervalS = 0.01): PingStream {
  requireCommand('ping', 'iputils-ping');
  const child = spawn('nsenter', [`--net=${netnsPath}`, 'ping', '-D', '-n', '-i', String(intervalS), destination], { stdio: ['ignore', 'pipe', 'pipe'] });
  const replies = new Map<number, number>();
  let output = '';
  let partial = '';
  let errText = '';
  let lastReplyAt: number | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = REPLY.exec(line);
      if (m && !line.includes('(DUP!)')) {
        lastReplyAt = Math.round(Number(m[1]) * 1000);
        replies.set(Number(m[2]), lastReplyAt);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (errText += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    get received() {
      return replies.size;
    },
    get lastReplyAt() {
      return lastReplyAt;
    },
    async stop() {
      child.kill('SIGINT');
      await exited;
      const m = SUMMARY.exec(output);
      if (!m) throw new HarnessError('E_PING', `ping to ${destination} in ${netnsPath} printed no summary: ${errText.trim()}\n${output.slice(-2000)}`);
      const transmitted = Number(m[1]);
      const lost: number[] = [];
      for (let seq = 1; seq <= transmitted; seq++) if (!replies.has(seq)) lost.push(seq);
      const lastInFlight = lost.at(-1) === transmitted;
      if (lastInFlight) lost.pop();
      return { transmitted, received: Number(m[2]), lost, lastInFlight, replies, output };
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

/** Replies received at or after `sinceMs` and how long after it the last one came. */
export function repliesSince(r: PingResult, sinceMs: number): { count: number; spanMs: number } {
  const times = [...r.replies.values()].filter((at) => at >= sinceMs);
  return { count: times.length, spanMs: times.length > 0 ? Math.max(...times) - sinceMs : 0 };
}
